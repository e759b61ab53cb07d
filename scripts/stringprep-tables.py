#!/usr/bin/env python3
"""Writes proxy/Postgres/Auth/StringprepTables.cs: the RFC 3454 tables that SASLprep (RFC 4013) uses, as sorted
inclusive code point ranges. The data comes from Python's own stringprep module, which answers from the Unicode 3.2
database (unicodedata.ucd_3_2_0), the version RFC 3454 was drawn from.

Usage: python3 scripts/stringprep-tables.py   (from the repository root; rewrites the file)
"""
import stringprep
import sys
import unicodedata

assert unicodedata.ucd_3_2_0.unidata_version == "3.2.0"


def ranges(test):
    found, start = [], None
    for code in range(0x110000):
        inside = test(chr(code))
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            found.append((start, code - 1))
            start = None
    if start is not None:
        found.append((start, 0x10FFFF))
    return found


def prohibited(ch):
    # RFC 4013 section 2.3: the prohibited output of SASLprep.
    return (stringprep.in_table_c12(ch) or stringprep.in_table_c21(ch) or stringprep.in_table_c22(ch)
            or stringprep.in_table_c3(ch) or stringprep.in_table_c4(ch) or stringprep.in_table_c5(ch)
            or stringprep.in_table_c6(ch) or stringprep.in_table_c7(ch) or stringprep.in_table_c8(ch)
            or stringprep.in_table_c9(ch))


TABLES = [
    ("NonAsciiSpace", "C.1.2 Non-ASCII space characters (mapped to U+0020 by SASLprep).", stringprep.in_table_c12),
    ("MappedToNothing", "B.1 Commonly mapped to nothing.", stringprep.in_table_b1),
    ("ProhibitedOutput", "C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9: what SASLprep prohibits (RFC 4013 section 2.3).", prohibited),
    ("Unassigned", "A.1 Unassigned code points in Unicode 3.2.", stringprep.in_table_a1),
    ("RandALCat", "D.1 Characters with bidirectional property R or AL.", stringprep.in_table_d1),
    ("LCat", "D.2 Characters with bidirectional property L.", stringprep.in_table_d2),
]


def main():
    out = []
    w = out.append
    w("// Written by scripts/stringprep-tables.py from Python's stringprep module (Unicode 3.2, RFC 3454); do not edit by hand.")
    w("namespace SecretlessProxy.Postgres.Auth;")
    w("")
    w("/// <summary>")
    w("/// The RFC 3454 tables SASLprep uses, each a sorted list of inclusive code point ranges (first, last, first, last, ...).")
    w("/// </summary>")
    w("internal static class StringprepTables")
    w("{")
    for name, doc, test in TABLES:
        found = ranges(test)
        w(f"    /// <summary>{doc} {len(found)} ranges.</summary>")
        w(f"    public static ReadOnlySpan<int> {name} =>")
        w("    [")
        items = [f"0x{a:04X}, 0x{b:04X}," for a, b in found]
        for i in range(0, len(items), 6):
            w("        " + " ".join(items[i:i + 6]))
        w("    ];")
        w("")
    w("    /// <summary>Whether <paramref name=\"code\"/> lies in one of the ranges of <paramref name=\"table\"/>.</summary>")
    w("    public static bool Contains(ReadOnlySpan<int> table, int code)")
    w("    {")
    w("        int low = 0, high = (table.Length / 2) - 1;")
    w("        while (low <= high)")
    w("        {")
    w("            var middle = (low + high) >>> 1;")
    w("            if (code < table[2 * middle])")
    w("            {")
    w("                high = middle - 1;")
    w("            }")
    w("            else if (code > table[(2 * middle) + 1])")
    w("            {")
    w("                low = middle + 1;")
    w("            }")
    w("            else")
    w("            {")
    w("                return true;")
    w("            }")
    w("        }")
    w("        return false;")
    w("    }")
    w("}")
    with open("proxy/Postgres/Auth/StringprepTables.cs", "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
