using System.Collections.Frozen;
using System.Text.Json;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Posture;

/// <summary>
/// Reads a posture document: <c>{ "spiffe://td/ns/a/sa/b": { "posture": "compliant", "env": "prod" }, … }</c>. Keys
/// must be SPIFFE IDs; values are objects of scalar facts (strings, numbers, booleans: kept as their text). Other
/// entries are skipped and counted, so one bad entry does not hide the others' facts.
/// </summary>
public static class PostureDocument
{
    public static FrozenDictionary<string, FrozenDictionary<string, string>>? Parse(ReadOnlySpan<byte> json, out int skipped, out string? error)
    {
        skipped = 0;
        error = null;
        var result = new Dictionary<string, FrozenDictionary<string, string>>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 8 });
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "the document is not a JSON object of SPIFFE ID → facts";
                return null;
            }
            foreach (var entry in document.RootElement.EnumerateObject())
            {
                if (!SpiffeId.TryParse(entry.Name, out var id, out _) || entry.Value.ValueKind != JsonValueKind.Object)
                {
                    skipped++;
                    continue;
                }
                var facts = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var fact in entry.Value.EnumerateObject())
                {
                    var text = fact.Value.ValueKind switch
                    {
                        JsonValueKind.String => fact.Value.GetString(),
                        JsonValueKind.Number => fact.Value.GetRawText(),
                        JsonValueKind.True => "true",
                        JsonValueKind.False => "false",
                        _ => null,
                    };
                    if (text is not null)
                    {
                        facts[fact.Name] = text;
                    }
                }
                result[id.Value] = facts.ToFrozenDictionary(StringComparer.Ordinal);
            }
        }
        catch (JsonException)
        {
            error = "the document is not valid JSON";
            return null;
        }
        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
