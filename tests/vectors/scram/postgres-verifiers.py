#!/usr/bin/env python3
"""Writes postgres-verifiers.txt: the SCRAM-SHA-256 verifiers a real PostgreSQL server made (CREATE ROLE ... PASSWORD
'plaintext' with password_encryption = scram-sha-256, read back from pg_authid) for passwords that exercise SASLprep.
The tests recompute each verifier from its salt and iteration count and must get the server's value.

Usage: PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=... python3 postgres-verifiers.py
(a throwaway cluster: it creates and drops roles named scram_vector_N; needs psql and server_encoding UTF8).
"""
import os
import subprocess

# (what it shows, password)
CASES = [
    ("ascii", "pencil"),
    ("ascii with quote and backslash", "a'b\"c\\d"),
    ("ascii control characters pass unchanged", "bell\u0007tab\u0009"),
    ("soft hyphen mapped to nothing (RFC 4013 example)", "I\u00adX"),
    ("feminine ordinal NFKC (RFC 4013 example)", "\u00aa"),
    ("roman numeral nine NFKC (RFC 4013 example)", "\u2168"),
    ("no-break space mapped to space", "a\u00a0b"),
    ("ideographic and en spaces mapped to space", "\u3000x\u2002"),
    ("zero width space is a C.1.2 space in Unicode 3.2, mapped to space first", "\u200bab"),
    ("ogham space mark", "\u1680x"),
    ("fullwidth letters NFKC", "\uff50\uff41\uff53\uff53"),
    ("ligature fi NFKC", "\ufb01x"),
    ("decomposed e acute composed by NFKC", "e\u0301t\u00e9"),
    ("hangul jamo composed by NFKC", "\u1100\u1161\u11a8"),
    ("variation selector only maps to empty: raw", "\ufe0f"),
    ("soft hyphen only maps to empty: raw", "\u00ad"),
    ("private use prohibited: raw", "a\ue000"),
    ("combining tone mark C.8 prohibited: raw", "a\u0340"),
    ("unassigned in Unicode 3.2 (U+0221): raw", "x\u0221"),
    ("emoji unassigned in Unicode 3.2: raw", "\U0001f600pw"),
    ("U+1F100 unassigned in 3.2, checked before NFKC: raw", "\U0001f100"),
    ("bidi: RandALCat then EN at the end: raw", "\u0627\u0031"),
    ("bidi: RandALCat at both ends", "\u0627\u0031\u0628"),
    ("bidi: RandALCat with LCat: raw", "\u05d0a\u05d0"),
    ("bidi: Arabic presentation form NFKC", "\ufedf\ufe8e"),
    ("greek and cyrillic", "\u03a9\u0416\u00df"),
    ("supplementary plane letter assigned in 3.2 (mathematical bold A)", "\U0001d400b"),
]


def literal(password):
    out = []
    for ch in password:
        c = ord(ch)
        if ch == "'":
            out.append("''")
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= c < 0x7f:
            out.append(ch)
        elif c <= 0xffff:
            out.append(f"\\{c:04X}")
        else:
            out.append(f"\\+{c:06X}")
    return "U&'" + "".join(out) + "'"


def escaped(password):
    return "".join(ch if 0x21 <= ord(ch) < 0x7f and ch != "\\" else
                   (f"\\u{ord(ch):04X}" if ord(ch) <= 0xffff else f"\\U{ord(ch):08X}") for ch in password)


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def main():
    version = psql("show server_version")
    lines = [f"# SCRAM-SHA-256 verifiers made by PostgreSQL {version} (see postgres-verifiers.py); tab-separated:",
             "# what it shows, the password with \\uXXXX / \\UXXXXXXXX escapes (\\u0020 for space), the server's verifier."]
    for i, (what, password) in enumerate(CASES):
        role = f"scram_vector_{i}"
        psql(f"SET password_encryption = 'scram-sha-256'; DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD {literal(password)}")
        verifier = psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
        psql(f"DROP ROLE {role}")
        lines.append(f"{what}\t{escaped(password)}\t{verifier}")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "postgres-verifiers.txt"), "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
