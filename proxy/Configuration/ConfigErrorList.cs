namespace SecretlessProxy.Configuration;

/// <summary>Collects every error (and warning) found in one document; validation never stops at the first.</summary>
public sealed class ConfigErrorList(ConfigDocument document)
{
    private const int MaxValueLength = 120;

    /// <summary>
    /// Under <c>credentials</c> only enum-like values are echoed: a user who pastes a token where a variable
    /// name or path belongs must not see it repeated in validate output and the proxy's logs.
    /// </summary>
    private static bool MayEcho(string key)
    {
        if (!key.StartsWith("credentials:", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        var last = key[(key.LastIndexOf(':') + 1)..];
        return last.Equals("provider", StringComparison.OrdinalIgnoreCase) || last.Equals("type", StringComparison.OrdinalIgnoreCase);
    }

    public List<ConfigError> Errors { get; } = [];

    public List<ConfigError> Warnings { get; } = [];

    public bool HasErrors => Errors.Count > 0;

    /// <summary>An error on configuration key <paramref name="key"/> (colon-separated, as IConfiguration spells it).</summary>
    public void Add(string key, string message, string fix, bool showValue = true) =>
        Errors.Add(Create(key, message, fix, showValue));

    public void Warn(string key, string message, string fix, bool showValue = true) => Warnings.Add(Create(key, message, fix, showValue));

    private ConfigError Create(string key, string message, string fix, bool showValue)
    {
        var value = showValue && MayEcho(key) ? document.Root[key] : null;
        if (value is { Length: > MaxValueLength })
        {
            value = value[..MaxValueLength] + "…";
        }
        return new ConfigError(document.FileName, document.LineOf(key), document.Display(key), value, message, fix);
    }
}
