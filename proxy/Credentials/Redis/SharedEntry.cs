using System.Buffers;
using System.Text.Json;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials.Redis;

/// <summary>A credential as kept in Redis: the secret parts and the instants every replica computes its own refresh from.</summary>
public sealed record SharedEntry(Credential Credential, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The plaintext to seal (UTF-8 JSON). The caller zeroes it after sealing.</summary>
    public byte[] Write()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("secret", Credential.Secret.Reveal());
            if (Credential.Username is not null)
            {
                writer.WriteString("username", Credential.Username);
            }
            if (Credential.SessionToken is not null)
            {
                writer.WriteString("sessionToken", Credential.SessionToken.Reveal());
            }
            if (Credential.LeaseId is not null)
            {
                writer.WriteString("leaseId", Credential.LeaseId);
            }
            writer.WriteNumber("issuedAt", IssuedAt.ToUnixTimeMilliseconds());
            writer.WriteNumber("expiresAt", ExpiresAt.ToUnixTimeMilliseconds());
            if (Credential.IsStatic)
            {
                writer.WriteBoolean("static", true);
            }
            writer.WriteEndObject();
        }
        var result = buffer.WrittenSpan.ToArray();
        buffer.Clear();
        return result;
    }

    /// <summary>Reads what <see cref="Write"/> wrote; null when it is not such a value.</summary>
    public static SharedEntry? Read(byte[] plaintext, string credentialName)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        try
        {
            using var json = JsonDocument.Parse(plaintext);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("secret", out var secret) || secret.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("issuedAt", out var issued) || !issued.TryGetInt64(out var issuedMs)
                || !root.TryGetProperty("expiresAt", out var expires) || !expires.TryGetInt64(out var expiresMs))
            {
                return null;
            }
            var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expiresMs);
            var credential = new Credential(credentialName, new SecretValue(secret.GetString()!))
            {
                Username = root.TryGetProperty("username", out var user) && user.ValueKind == JsonValueKind.String ? user.GetString() : null,
                ExpiresAt = expiresAt,
                IsStatic = root.TryGetProperty("static", out var isStatic) && isStatic.ValueKind == JsonValueKind.True,
                SessionToken = root.TryGetProperty("sessionToken", out var token) && token.ValueKind == JsonValueKind.String ? new SecretValue(token.GetString()!) : null,
                LeaseId = root.TryGetProperty("leaseId", out var lease) && lease.ValueKind == JsonValueKind.String ? lease.GetString() : null,
            };
            return new SharedEntry(credential, DateTimeOffset.FromUnixTimeMilliseconds(issuedMs), expiresAt);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException)
        {
            return null;
        }
    }
}
