using SecretlessProxy.Posture;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>posture</c>: a watched JSON file or a polled HTTP endpoint of context facts per identity.</summary>
internal static class PostureSection
{
    public static PostureSettings? Compile(ConfigDocument document, ConfigErrorList errors)
    {
        if (ConfigSections.Optional(document, "posture", ["file", "url", "pollInterval", "maxAge", "timeout"], errors) is not { } section)
        {
            return null;
        }
        var file = ConfigSections.Value(section, "file");
        var urlText = ConfigSections.Value(section, "url");
        string? path = null;
        Uri? url = null;
        if ((file is null) == (urlText is null))
        {
            errors.Add(section.Path, file is null ? "has neither 'file' nor 'url'" : "has both 'file' and 'url'", "give file: posture.json (a JSON file some agent rewrites) or url: https://... (polled)", showValue: false);
        }
        if (file is not null)
        {
            path = Path.GetFullPath(file, document.Directory);
            if (!document.Offline && !Directory.Exists(Path.GetDirectoryName(path)))
            {
                errors.Add(section.Path + ":file", $"the folder of '{path}' does not exist", "create the folder, or name a file in an existing one (the file itself may appear later)");
            }
        }
        if (urlText is not null)
        {
            if (!Uri.TryCreate(urlText, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(url.UserInfo))
            {
                errors.Add(section.Path + ":url", $"'{urlText}' is not an http(s) URL without user info", "write e.g. url: https://posture.internal/v1/facts");
                url = null;
            }
        }
        var poll = Duration(section, "pollInterval", PostureSettings.DefaultPollInterval, TimeSpan.FromMilliseconds(50), errors);
        var maxAge = Duration(section, "maxAge", PostureSettings.DefaultMaxAge, TimeSpan.FromSeconds(1), errors);
        var timeout = Duration(section, "timeout", PostureSettings.DefaultTimeout, TimeSpan.FromMilliseconds(50), errors);
        if (maxAge < poll)
        {
            errors.Add(section.Path + ":maxAge", "is shorter than pollInterval, so facts would be stale between two reads", "make maxAge a few poll intervals long");
        }
        return path is null && url is null ? null : new PostureSettings(path, url, poll, maxAge, timeout);
    }

    /// <summary><c>90s</c>, <c>500ms</c>, <c>5m</c> or <c>hh:mm:ss</c>, at least <paramref name="minimum"/>.</summary>
    internal static TimeSpan Duration(Microsoft.Extensions.Configuration.IConfigurationSection section, string key, TimeSpan fallback, TimeSpan minimum, ConfigErrorList errors)
    {
        if (ConfigSections.Value(section, key) is not { } text)
        {
            return fallback;
        }
        TimeSpan? value = null;
        if (text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) && double.TryParse(text[..^2], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0)
        {
            value = TimeSpan.FromMilliseconds(ms);
        }
        else if (Durations.Parse(text) is { } parsed)
        {
            value = parsed;
        }
        else if (text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var span))
        {
            value = span;
        }
        if (value is null || value < minimum)
        {
            errors.Add(section.Path + ":" + key, $"is not a duration of at least {minimum.TotalMilliseconds:0} ms", "write e.g. 500ms, 5s, 2m or 00:00:05");
            return fallback;
        }
        return value.Value;
    }
}
