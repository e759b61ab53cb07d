using System.Globalization;
using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Configuration;

/// <summary>A user or group in config: a number, or a name resolved through NSS when the config loads.</summary>
internal static class UnixIds
{
    public static uint? User(string text) => Number(text) ?? UnixNative.UserId(text);

    public static uint? Group(string text) => Number(text) ?? UnixNative.GroupId(text);

    private static uint? Number(string text) =>
        uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id <= int.MaxValue ? id : null;
}
