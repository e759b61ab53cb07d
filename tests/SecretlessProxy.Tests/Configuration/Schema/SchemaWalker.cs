using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace SecretlessProxy.Tests.Configuration.Schema;

/// <summary>A subschema and its JSON pointer in the schema file.</summary>
internal sealed record SchemaNode(JsonObject Schema, string Pointer);

/// <summary>
/// The object schema an instance mapping resolves to: its keys (those of the <c>if</c>/<c>then</c> branch the mapping
/// selects, e.g. <c>provider: vault</c>, when it has branches), whether it refuses other keys, and where in the schema
/// file the keys are written.
/// </summary>
internal sealed record SchemaObject(SchemaNode Node, string? Branch, SchemaNode? BranchNode, IReadOnlySet<string> Keys, bool Closed)
{
    /// <summary>True when the object has branches and the mapping selects none of them (a provider the schema has no branch for).</summary>
    public bool Unmatched { get; init; }

    /// <summary><c>#/definitions/credential when provider: vault</c>: what the coverage check counts.</summary>
    public string Id => Branch is null ? Node.Pointer : $"{Node.Pointer} when {Branch}";

    /// <summary>Where a missing key goes, for the failure message.</summary>
    public string Where => BranchNode is null
        ? $"{Node.Pointer}/properties"
        : $"{BranchNode.Pointer}/properties and its propertyNames enum ({Branch})";
}

/// <summary>
/// Walks the config schema alongside a YAML document, using only the constructs the schema file uses: local
/// <c>$ref</c>s, <c>properties</c>, <c>patternProperties</c>, <c>additionalProperties</c>, <c>items</c>,
/// <c>anyOf</c>/<c>oneOf</c> chosen by the instance's kind, and <c>allOf</c> branches
/// <c>if: { properties: { K: { const: V } }, required: [K] }</c> or <c>if: { not: { required: [K] } }</c> whose
/// <c>then</c> adds the branch's <c>properties</c> and closes the object with <c>propertyNames.enum</c> (draft-07's
/// <c>additionalProperties</c> cannot see properties a branch adds).
/// </summary>
internal sealed class SchemaWalker(JsonObject root)
{
    /// <summary>The schema at <paramref name="pointer"/> for <paramref name="instance"/>: references followed, a union narrowed to the instance's kind.</summary>
    public SchemaNode? Resolve(JsonNode? schema, string pointer, YamlNode instance)
    {
        while (schema is JsonObject node)
        {
            if (node["$ref"] is JsonValue reference)
            {
                pointer = reference.GetValue<string>();
                schema = Lookup(pointer);
                continue;
            }
            if (node["allOf"] is JsonArray { Count: 1 } wrapped && wrapped[0]?["$ref"] is not null && node["properties"] is null && node["type"] is null)
            {
                schema = wrapped[0];
                pointer += "/allOf/0";
                continue;
            }
            var union = node["anyOf"] as JsonArray ?? node["oneOf"] as JsonArray;
            if (union is not null && node["properties"] is null && node["type"] is null)
            {
                var keyword = node["anyOf"] is not null ? "anyOf" : "oneOf";
                var index = union.Select((s, i) => (s, i)).FirstOrDefault(c => Accepts(c.s, instance), (null, -1)).i;
                if (index < 0)
                {
                    return null;
                }
                schema = union[index];
                pointer += $"/{keyword}/{index}";
                continue;
            }
            return new SchemaNode(node, pointer);
        }
        return null;
    }

    /// <summary>The object schema <paramref name="node"/> means for <paramref name="mapping"/>.</summary>
    /// <param name="discriminator">The value of a key the branches test (the mapping's own, or one a store implies).</param>
    public static SchemaObject Object(SchemaNode node, YamlMappingNode mapping, Func<YamlMappingNode, string, string?> discriminator)
    {
        var keys = new HashSet<string>((node.Schema["properties"] as JsonObject)?.Select(p => p.Key) ?? [], StringComparer.Ordinal);
        var closed = node.Schema["additionalProperties"] is JsonValue v && v.GetValue<bool>() == false;
        if (node.Schema["allOf"] is JsonArray branches)
        {
            for (var i = 0; i < branches.Count; i++)
            {
                if (branches[i] is not JsonObject branch || branch["if"] is not JsonObject condition)
                {
                    continue;
                }
                var (key, value, text) = Condition(condition);
                if (discriminator(mapping, key) == value)
                {
                    var then = (JsonObject)branch["then"]!;
                    var names = then["propertyNames"]?["enum"] as JsonArray;
                    return new SchemaObject(node, text, new SchemaNode(then, $"{node.Pointer}/allOf/{i}/then"),
                        names is null ? keys : names.Select(n => n!.GetValue<string>()).ToHashSet(StringComparer.Ordinal), closed || names is not null);
                }
            }
        }
        var branched = node.Schema["allOf"] is JsonArray any && any.Any(b => b?["if"] is not null);
        return new SchemaObject(node, null, null, keys, closed || branched) { Unmatched = branched };
    }

    /// <summary>The schema of key <paramref name="key"/> of a mapping <paramref name="parent"/> resolved to, or null for a key the schema does not know.</summary>
    public SchemaNode? Child(SchemaObject parent, string key, YamlNode value)
    {
        if (parent.BranchNode?.Schema["properties"]?[key] is { } inBranch)
        {
            return Resolve(inBranch, $"{parent.BranchNode.Pointer}/properties/{key}", value);
        }
        if (parent.Node.Schema["properties"]?[key] is { } property)
        {
            return Resolve(property, $"{parent.Node.Pointer}/properties/{key}", value);
        }
        if (parent.Node.Schema["patternProperties"] is JsonObject patterns)
        {
            foreach (var (pattern, schema) in patterns)
            {
                if (Regex.IsMatch(key, pattern))
                {
                    return Resolve(schema, $"{parent.Node.Pointer}/patternProperties/{pattern}", value);
                }
            }
        }
        return parent.Node.Schema["additionalProperties"] is JsonObject additional
            ? Resolve(additional, $"{parent.Node.Pointer}/additionalProperties", value)
            : null;
    }

    public SchemaNode? Items(SchemaNode array, YamlNode item) =>
        array.Schema["items"] is { } items ? Resolve(items, $"{array.Pointer}/items", item) : null;

    /// <summary>Every object the schema closes (<c>additionalProperties: false</c>) and every branch that closes one: what the probes must reach.</summary>
    public IEnumerable<string> ClosedLocations() => Closed(root, "#");

    /// <summary>
    /// Objects with <c>properties</c> that neither say <c>additionalProperties</c> nor close every branch with
    /// <c>propertyNames</c> (branch conditions and <c>then</c> parts aside: their object is the one checked).
    /// </summary>
    public static IEnumerable<string> ObjectsWithoutAdditionalProperties(JsonNode? node, string pointer = "#")
    {
        if (node is JsonObject schema)
        {
            var branches = Branches(schema);
            var closedByBranches = branches.Count > 0 && branches.All(b => b["then"]?["propertyNames"] is not null);
            if (schema["properties"] is not null && schema["additionalProperties"] is null && !closedByBranches)
            {
                yield return pointer;
            }
            foreach (var (key, child) in schema.Where(c => c.Key is not ("if" or "then")))
            {
                foreach (var found in ObjectsWithoutAdditionalProperties(child, $"{pointer}/{key}"))
                {
                    yield return found;
                }
            }
        }
        else if (node is JsonArray list)
        {
            for (var i = 0; i < list.Count; i++)
            {
                foreach (var found in ObjectsWithoutAdditionalProperties(list[i], $"{pointer}/{i}"))
                {
                    yield return found;
                }
            }
        }
    }

    private static IEnumerable<string> Closed(JsonNode? node, string pointer)
    {
        switch (node)
        {
            case JsonObject schema:
                var branches = Branches(schema);
                if (branches.Count == 0 && schema["additionalProperties"] is JsonValue v && v.GetValue<bool>() == false)
                {
                    yield return pointer;
                }
                foreach (var branch in branches.Where(b => b["then"]?["propertyNames"] is not null))
                {
                    yield return $"{pointer} when {Condition((JsonObject)branch["if"]!).Text}";
                }
                foreach (var (key, child) in schema)
                {
                    foreach (var found in Closed(child, $"{pointer}/{key}"))
                    {
                        yield return found;
                    }
                }
                break;
            case JsonArray list:
                for (var i = 0; i < list.Count; i++)
                {
                    foreach (var found in Closed(list[i], $"{pointer}/{i}"))
                    {
                        yield return found;
                    }
                }
                break;
        }
    }

    /// <summary>Names a branch allows (<c>propertyNames.enum</c>) with no schema in the branch or the object: keys without a description.</summary>
    public static IEnumerable<string> NamesWithoutSchema(JsonNode? node, string pointer = "#")
    {
        if (node is JsonObject schema)
        {
            var branches = (schema["allOf"] as JsonArray)?.ToList() ?? [];
            for (var i = 0; i < branches.Count; i++)
            {
                if (branches[i]?["then"] is not JsonObject then || then["propertyNames"]?["enum"] is not JsonArray names)
                {
                    continue;
                }
                foreach (var name in names.Select(n => n!.GetValue<string>()).Where(n => then["properties"]?[n] is null && schema["properties"]?[n] is null))
                {
                    yield return $"{pointer}/allOf/{i}/then: '{name}'";
                }
            }
            foreach (var (key, child) in schema)
            {
                foreach (var found in NamesWithoutSchema(child, $"{pointer}/{key}"))
                {
                    yield return found;
                }
            }
        }
        else if (node is JsonArray list)
        {
            for (var i = 0; i < list.Count; i++)
            {
                foreach (var found in NamesWithoutSchema(list[i], $"{pointer}/{i}"))
                {
                    yield return found;
                }
            }
        }
    }

    private static List<JsonObject> Branches(JsonObject schema) =>
        (schema["allOf"] as JsonArray)?.OfType<JsonObject>().Where(b => b["if"] is JsonObject).ToList() ?? [];

    /// <summary>A branch condition: the key it tests, the value it wants (null: the key left out), and how to name it.</summary>
    private static (string Key, string? Value, string Text) Condition(JsonObject condition)
    {
        if (condition["not"]?["required"] is JsonArray { Count: 1 } absent)
        {
            var key = absent[0]!.GetValue<string>();
            return (key, null, $"{key} left out");
        }
        var (name, schema) = ((JsonObject)condition["properties"]!).Single();
        var value = schema!["const"]!.GetValue<string>();
        return (name, value, $"{name}: {value}");
    }

    private static bool Accepts(JsonNode? schema, YamlNode instance)
    {
        var types = schema?["type"] switch
        {
            JsonValue one => [one.GetValue<string>()],
            JsonArray many => many.Select(t => t!.GetValue<string>()).ToArray(),
            _ => schema?["$ref"] is not null ? ["object"] : [],
        };
        return instance switch
        {
            YamlMappingNode => types.Contains("object"),
            YamlSequenceNode => types.Contains("array"),
            _ => types.Any(t => t is not ("object" or "array")),
        };
    }

    private JsonNode? Lookup(string pointer)
    {
        JsonNode? node = root;
        foreach (var part in pointer.TrimStart('#').Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node?[part.Replace("~1", "/").Replace("~0", "~")];
        }
        return node ?? throw new InvalidOperationException($"the schema has no {pointer}");
    }
}
