using System.Globalization;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>limits</c>: resource bounds that protect the proxy as a whole.</summary>
internal static class LimitsSection
{
    public static LimitSettings Compile(ConfigDocument document, ConfigErrorList errors)
    {
        if (ConfigSections.Optional(document, "limits", ["maxBufferedBodyBytes"], errors) is not { } section)
        {
            return LimitSettings.Default;
        }
        var buffered = LimitSettings.Default.MaxBufferedBodyBytes;
        if (ConfigSections.Value(section, "maxBufferedBodyBytes") is { } text
            && (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out buffered) || buffered < Injection.SegmentedBody.SegmentSize))
        {
            errors.Add(section.Path + ":maxBufferedBodyBytes", $"must be a whole number of bytes, at least {Injection.SegmentedBody.SegmentSize}",
                $"e.g. maxBufferedBodyBytes: {Injection.BodyBufferBudget.DefaultLimit} (64 MiB shared by every request whose body is read for signing)");
        }
        return new LimitSettings(buffered);
    }
}
