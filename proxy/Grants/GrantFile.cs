using System.Text.Json.Serialization;

namespace SecretlessProxy.Grants;

/// <summary>The grants file: a version and the grants.</summary>
internal sealed record GrantFile(int Version, IReadOnlyList<Grant> Grants);

[JsonSerializable(typeof(GrantFile))]
[JsonSerializable(typeof(Grant))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class GrantJson : JsonSerializerContext;
