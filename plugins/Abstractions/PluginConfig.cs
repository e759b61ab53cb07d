using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Abstractions;

/// <summary>What a plugin factory sees of the config: its own section, and a way to report errors.</summary>
public sealed class PluginConfig
{
    private readonly Action<string, string, string> _report;

    /// <summary>Creates the context. The host calls this; plugins only read it.</summary>
    public PluginConfig(
        string entityName,
        IConfigurationSection section,
        string configDirectory,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        Action<string, string, string> report)
    {
        EntityName = entityName;
        Section = section;
        ConfigDirectory = configDirectory;
        TimeProvider = timeProvider;
        LoggerFactory = loggerFactory;
        _report = report;
    }

    /// <summary>The name of the credential this plugin serves.</summary>
    public string EntityName { get; }

    /// <summary>The plugin's config section.</summary>
    public IConfigurationSection Section { get; }

    /// <summary>The folder of the config file; relative paths resolve against it.</summary>
    public string ConfigDirectory { get; }

    /// <summary>The clock to use for anything time-based.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>Loggers for the plugin. Never log a secret.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>
    /// True when the config is checked without the files the runtime mounts (<c>validate --offline</c> in a config
    /// repository's CI): <c>Validate</c> checks keys and values but not whether key, certificate or secret files exist
    /// or what they hold. The host does not build a provider that reads such files then.
    /// </summary>
    public bool Offline { get; init; }

    /// <summary>A key's value, or null when absent or empty.</summary>
    public string? Get(string key)
    {
        var value = Section[key];
        return string.IsNullOrEmpty(value) ? null : value;
    }

    /// <summary>A list key's values: a YAML/JSON list, or one comma-separated string; empty when absent.</summary>
    public IReadOnlyList<string> GetList(string key)
    {
        var section = Section.GetSection(key);
        if (section.Value is { Length: > 0 } single)
        {
            return single.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        }
        return [.. section.GetChildren().Select(c => c.Value).Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v!.Trim())];
    }

    /// <summary>A duration key's value (<c>hh:mm:ss</c>), or null when absent. Call it on a config <see cref="CheckDuration"/> passed.</summary>
    public TimeSpan? GetDuration(string key) => Get(key) is { } text ? TimeSpan.Parse(text, CultureInfo.InvariantCulture) : null;

    /// <summary>Reports a duration key that is not <c>hh:mm:ss</c> or is shorter than <paramref name="minimum"/>; <paramref name="example"/> is a good value, e.g. <c>ttl: 00:05:00</c>.</summary>
    public void CheckDuration(string key, TimeSpan minimum, string example)
    {
        if (Get(key) is { } text && (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) || span < minimum))
        {
            Error(key, $"must be a duration of at least {minimum.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s", "write it as hh:mm:ss, e.g. " + example);
        }
    }

    /// <summary>
    /// Reports a URL key that is not an absolute http(s) URL or carries user info or a query (the error names a nested
    /// key, <c>auth:stsEndpoint</c>, as <c>auth.stsEndpoint</c>); <paramref name="example"/> is a good value.
    /// </summary>
    public void CheckHttpUrl(string key, string example)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (Get(key) is { } text && (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query)))
        {
            Error(key.Replace(':', '.'), "is not an http(s) URL without user info or query", "e.g. " + example);
        }
    }

    /// <summary>A path from the config, resolved against the config file's folder.</summary>
    public string ResolvePath(string path) => Path.GetFullPath(path, ConfigDirectory);

    /// <summary>
    /// Reports a config error on <paramref name="key"/> (relative to this plugin's section); the host adds the
    /// file, line, full key path and the bad value. <paramref name="fix"/> says what to write instead.
    /// </summary>
    public void Error(string key, string message, string fix) => _report(key, message, fix);
}
