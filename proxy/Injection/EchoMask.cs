using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace SecretlessProxy.Injection;

/// <summary>
/// The injected credential's wire forms (<see cref="Abstractions.IPreparedInjection.EchoForms"/>) and how they are
/// masked where an upstream could reflect them to the caller: each occurrence is overwritten with as many
/// <c>*</c>, so lengths (and a body's Content-Length) stay as the upstream sent them.
/// </summary>
internal sealed class EchoMask
{
    /// <summary>Response headers an upstream fills from the request URL (redirects, canonical links).</summary>
    public static readonly string[] LinkHeaders = ["Location", "Content-Location", "Refresh", "Link"];

    private EchoMask(string[] forms)
    {
        Forms = forms;
        Utf8 = [.. forms.Select(Encoding.UTF8.GetBytes)];
        LongestUtf8 = Utf8.Length == 0 ? 0 : Utf8.Max(f => f.Length);
    }

    public string[] Forms { get; }

    public byte[][] Utf8 { get; }

    public int LongestUtf8 { get; }

    public static EchoMask? For(IReadOnlyList<string> forms) => forms.Count == 0 ? null : new EchoMask([.. forms]);

    /// <summary>Masks the forms in the response's link headers; returns how many were masked.</summary>
    public int MaskLinkHeaders(IHeaderDictionary headers)
    {
        var count = 0;
        foreach (var name in LinkHeaders)
        {
            var values = headers[name];
            if (StringValues.IsNullOrEmpty(values))
            {
                continue;
            }
            string?[]? masked = null;
            for (var i = 0; i < values.Count; i++)
            {
                var value = values[i] ?? "";
                foreach (var form in Forms)
                {
                    var at = value.IndexOf(form, StringComparison.Ordinal);
                    while (at >= 0)
                    {
                        value = string.Concat(value.AsSpan(0, at), new string('*', form.Length), value.AsSpan(at + form.Length));
                        count++;
                        at = value.IndexOf(form, at + form.Length, StringComparison.Ordinal);
                    }
                }
                if (!ReferenceEquals(value, values[i]))
                {
                    masked ??= values.ToArray();
                    masked[i] = value;
                }
            }
            if (masked is not null)
            {
                headers[name] = new StringValues(masked);
            }
        }
        return count;
    }

    /// <summary>Masks every form in <paramref name="data"/> in place; returns how many were masked.</summary>
    public int MaskInPlace(Span<byte> data)
    {
        var count = 0;
        foreach (var form in Utf8)
        {
            var offset = 0;
            while (offset <= data.Length - form.Length)
            {
                var at = data[offset..].IndexOf(form);
                if (at < 0)
                {
                    break;
                }
                data.Slice(offset + at, form.Length).Fill((byte)'*');
                count++;
                offset += at + form.Length;
            }
        }
        return count;
    }

    /// <summary>The length of the longest suffix of <paramref name="data"/> that begins some form (and could end in the next write).</summary>
    public int PendingPrefix(ReadOnlySpan<byte> data)
    {
        var longest = Math.Min(LongestUtf8 - 1, data.Length);
        for (var length = longest; length > 0; length--)
        {
            var tail = data[^length..];
            foreach (var form in Utf8)
            {
                if (form.Length > length && form.AsSpan(0, length).SequenceEqual(tail))
                {
                    return length;
                }
            }
        }
        return 0;
    }
}
