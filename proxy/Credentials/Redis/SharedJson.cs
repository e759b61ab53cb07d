namespace SecretlessProxy.Credentials.Redis;

/// <summary>Source-generated JSON for the messages replicas exchange.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(RevocationMessage))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class SharedJson : System.Text.Json.Serialization.JsonSerializerContext;
