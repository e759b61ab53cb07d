using System.Diagnostics;

namespace SecretlessProxy.Abstractions;

/// <summary>
/// A secret (token, API key, password). <see cref="ToString"/> and the debugger display always redact, so a
/// secret that reaches a log line, an exception message or a record by accident shows as <c>[redacted]</c>.
/// Call <see cref="Reveal"/> only at the point where the value leaves the process (an injected header).
/// </summary>
[DebuggerDisplay("[redacted]")]
public sealed class SecretValue
{
    /// <summary>The text every formatting path shows instead of the value.</summary>
    public const string Redacted = "[redacted]";

    private readonly string _value;

    /// <summary>Wraps a secret.</summary>
    public SecretValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _value = value;
    }

    /// <summary>Number of characters in the secret (safe to log: it tells nothing useful).</summary>
    public int Length => _value.Length;

    /// <summary>True when the secret holds CR, LF or NUL, which would let it split an HTTP header.</summary>
    public bool HasLineBreak => _value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0;

    /// <summary>The secret itself. Use it only to put the value on an outgoing request.</summary>
    public string Reveal() => _value;

    /// <summary>Always <c>[redacted]</c>.</summary>
    public override string ToString() => Redacted;
}
