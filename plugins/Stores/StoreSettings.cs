using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>Keys shared by the file-backed stores.</summary>
internal static class StoreSettings
{
    public static void ValidateCommon(PluginConfig config)
    {
        var trim = config.Get("trim");
        if (trim is not null && !bool.TryParse(trim, out _))
        {
            config.Error("trim", "must be true or false", "write trim: true (default) or trim: false");
        }
        var poll = config.Get("pollInterval");
        if (poll is not null && (!TimeSpan.TryParse(poll, CultureInfo.InvariantCulture, out var interval) || interval < TimeSpan.FromMilliseconds(50)))
        {
            config.Error("pollInterval", "must be a duration of at least 50 ms", "write it as hh:mm:ss, e.g. pollInterval: 00:00:01");
        }
    }

    public static bool Trim(PluginConfig config) => config.Get("trim") is not { } value || bool.Parse(value);

    public static TimeSpan PollInterval(PluginConfig config) =>
        config.Get("pollInterval") is { } value ? TimeSpan.Parse(value, CultureInfo.InvariantCulture) : FileProviderFactory.DefaultPollInterval;
}
