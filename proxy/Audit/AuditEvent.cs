using System.Text.Json;

namespace SecretlessProxy.Audit;

/// <summary>
/// A lifecycle event in the audit trail: a credential issued, refreshed, revoked or expired unused; a grant
/// approved, expired or revoked; a config loaded, reloaded or refused. <c>kind</c> names it; the fields are names,
/// codes, times and counts (strings, numbers, booleans, instants, lists of strings, or maps of such lists).
/// </summary>
public sealed class AuditEvent(DateTimeOffset time, string kind, IReadOnlyList<KeyValuePair<string, object?>> fields) : AuditRecord
{
    public DateTimeOffset Time { get; } = time;

    /// <summary>e.g. <c>credential.issued</c>, <c>grant.expired</c>, <c>config.refused</c>.</summary>
    public string Kind { get; } = kind;

    public IReadOnlyList<KeyValuePair<string, object?>> Fields { get; } = fields;

    public object? this[string name] => Fields.FirstOrDefault(f => f.Key == name).Value;

    public override void WriteTo(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteString("time", Time);
        json.WriteString("kind", Kind);
        foreach (var (name, value) in Fields)
        {
            json.WritePropertyName(name);
            WriteValue(json, value);
        }
        json.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case string text:
                json.WriteStringValue(text);
                break;
            case bool flag:
                json.WriteBooleanValue(flag);
                break;
            case int number:
                json.WriteNumberValue(number);
                break;
            case long number:
                json.WriteNumberValue(number);
                break;
            case double number:
                json.WriteNumberValue(number);
                break;
            case DateTimeOffset instant:
                json.WriteStringValue(instant);
                break;
            case IEnumerable<KeyValuePair<string, object?>> map:
                json.WriteStartObject();
                foreach (var (key, item) in map)
                {
                    json.WritePropertyName(key);
                    WriteValue(json, item);
                }
                json.WriteEndObject();
                break;
            case IEnumerable<string> list:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    json.WriteStringValue(item);
                }
                json.WriteEndArray();
                break;
            default:
                throw new ArgumentException($"audit field values are strings, numbers, booleans, instants, string lists or maps; not {value.GetType().Name}", nameof(value));
        }
    }
}
