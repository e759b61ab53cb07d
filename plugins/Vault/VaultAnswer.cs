using System.Text.Json;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>Vault's answer to one call: the HTTP status and the JSON body (undefined when there was none).</summary>
internal sealed record VaultAnswer(int Status, JsonElement Body)
{
    public bool Ok => Status is >= 200 and < 300;

    /// <summary>A string at <paramref name="path"/> (e.g. <c>auth</c>, <c>client_token</c>), or null.</summary>
    public string? String(params string[] path) => Find(path) is { ValueKind: JsonValueKind.String } e ? e.GetString() : null;

    /// <summary>A whole number of seconds at <paramref name="path"/>, or null.</summary>
    public long? Seconds(params string[] path) => Find(path) is { ValueKind: JsonValueKind.Number } e && e.TryGetInt64(out var n) ? n : null;

    public bool Bool(params string[] path) => Find(path) is { ValueKind: JsonValueKind.True };

    public JsonElement? Find(params string[] path)
    {
        var current = Body;
        foreach (var name in path)
        {
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out current))
            {
                return null;
            }
        }
        return current;
    }
}
