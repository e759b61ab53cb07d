namespace SecretlessProxy.Configuration;

/// <summary>Collects every error (and warning) found in one document; validation never stops at the first.</summary>
public sealed class ConfigErrorList(ConfigDocument document)
{
    private const int MaxValueLength = 120;

    public List<ConfigError> Errors { get; } = [];

    public List<ConfigError> Warnings { get; } = [];

    public bool HasErrors => Errors.Count > 0;

    /// <summary>An error on configuration key <paramref name="key"/> (colon-separated, as IConfiguration spells it).</summary>
    public void Add(string key, string message, string fix, bool showValue = true) =>
        Errors.Add(Create(key, message, fix, showValue));

    public void Warn(string key, string message, string fix) => Warnings.Add(Create(key, message, fix, showValue: true));

    private ConfigError Create(string key, string message, string fix, bool showValue)
    {
        var value = showValue ? document.Root[key] : null;
        if (value is { Length: > MaxValueLength })
        {
            value = value[..MaxValueLength] + "…";
        }
        return new ConfigError(document.FileName, document.LineOf(key), document.Display(key), value, message, fix);
    }
}
