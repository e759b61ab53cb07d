using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A HashiCorp Vault stand-in on 127.0.0.1 following Vault's published HTTP API (<c>/v1/...</c>): logins at
/// <c>auth/jwt/login</c> (the JWT's signature checked against <see cref="JwtKey"/>, its audience and expiry) and
/// <c>auth/kubernetes/login</c> (the service-account token compared, as the TokenReview would), tokens with a TTL
/// checked on every call (<c>X-Vault-Token</c>, 403 "permission denied" otherwise) and <c>auth/token/renew-self</c>,
/// KV v2 (<c>MOUNT/data/PATH</c> with <c>data</c>/<c>metadata</c> and <c>?version=</c>), a database engine
/// (<c>database/creds/ROLE</c>) with leases, <c>sys/leases/renew</c> and <c>sys/leases/revoke</c>. What happened is
/// observable by the test. Checked against the node-vault client in <c>VaultEmulatorTests</c>.
/// </summary>
public sealed class VaultEmulator : IAsyncDisposable
{
    public const string JwtAudience = "vault";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, (DateTimeOffset ExpiresAt, TimeSpan Ttl)> _tokens = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _leases = new();

    private VaultEmulator(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>The key JWTs presented at auth/jwt/login must be signed with (Vault's jwt_validation_pubkeys).</summary>
    public ECDsaSecurityKey JwtKey { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "proxy" };

    /// <summary>The service-account token the Kubernetes auth method accepts.</summary>
    public string KubernetesToken { get; set; } = "k8s-sa-token-" + Guid.NewGuid().ToString("N");

    public TimeSpan TokenTtl { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>KV v2: mount/path → versions (1-based) of key/value maps.</summary>
    public ConcurrentDictionary<string, List<Dictionary<string, string>>> Kv { get; } = new();

    public ConcurrentQueue<string> Logins { get; } = new();

    public ConcurrentQueue<string> TokenRenewals { get; } = new();

    public ConcurrentQueue<string> Issued { get; } = new();

    public ConcurrentQueue<string> LeaseRenewals { get; } = new();

    public ConcurrentQueue<string> Revoked { get; } = new();

    /// <summary>Every X-Vault-Namespace header seen.</summary>
    public ConcurrentQueue<string> Namespaces { get; } = new();

    /// <summary>Revokes every token (as <c>vault token revoke</c> would): the next call with one answers 403.</summary>
    public void RevokeAllTokens() => _tokens.Clear();

    public string MintJwt(string subject, TimeSpan? lifetime = null, string audience = JwtAudience)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "https://issuer.test",
            Audience = audience,
            Claims = new Dictionary<string, object> { ["sub"] = subject },
            IssuedAt = now,
            NotBefore = now,
            Expires = now + (lifetime ?? TimeSpan.FromMinutes(5)),
            SigningCredentials = new SigningCredentials(JwtKey, SecurityAlgorithms.EcdsaSha256),
        });
    }

    public static async Task<VaultEmulator> StartAsync()
    {
        VaultEmulator? self = null;
        var (app, address) = await LoopbackApp.StartAsync(context => self!.HandleAsync(context));
        self = new VaultEmulator(app, address);
        return self;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (context.Request.Headers.TryGetValue("X-Vault-Namespace", out var ns))
        {
            Namespaces.Enqueue(ns.ToString());
        }
        if (!path.StartsWith("/v1/", StringComparison.Ordinal))
        {
            await Error(context, 404, "no handler for route");
            return;
        }
        path = path["/v1/".Length..];
        var method = context.Request.Method;
        JsonElement body = default;
        if (method is "POST" or "PUT" && context.Request.ContentLength is not 0)
        {
            try
            {
                body = (await JsonDocument.ParseAsync(context.Request.Body)).RootElement.Clone();
            }
            catch (JsonException)
            {
                await Error(context, 400, "failed to parse JSON input");
                return;
            }
        }
        if (path.StartsWith("auth/", StringComparison.Ordinal) && path.EndsWith("/login", StringComparison.Ordinal) && method is "POST" or "PUT")
        {
            await LoginAsync(context, path, body);
            return;
        }
        // Everything else needs a live token.
        var token = context.Request.Headers["X-Vault-Token"].ToString();
        if (token.Length == 0 || !_tokens.TryGetValue(token, out var held) || DateTimeOffset.UtcNow >= held.ExpiresAt)
        {
            await Error(context, 403, "permission denied");
            return;
        }
        switch (path)
        {
            case "auth/token/renew-self" when method is "POST" or "PUT":
                _tokens[token] = (DateTimeOffset.UtcNow + held.Ttl, held.Ttl);
                TokenRenewals.Enqueue(token[..8]);
                await Json(context, AuthAnswer(token, held.Ttl));
                return;
            case "auth/token/lookup-self" when method == "GET":
                await Json(context, new { data = new { ttl = (long)(held.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds, renewable = true } });
                return;
            case "sys/leases/renew" when method is "POST" or "PUT":
            {
                var lease = LeaseId(body);
                if (lease is null || !_leases.TryGetValue(lease, out var until) || DateTimeOffset.UtcNow >= until)
                {
                    await Error(context, 400, "lease not found or lease is not renewable");
                    return;
                }
                _leases[lease] = DateTimeOffset.UtcNow + LeaseTtl;
                LeaseRenewals.Enqueue(lease);
                await Json(context, new { lease_id = lease, renewable = true, lease_duration = (long)LeaseTtl.TotalSeconds, data = (object?)null, warnings = (object?)null });
                return;
            }
            case "sys/leases/revoke" when method is "POST" or "PUT":
            {
                var lease = LeaseId(body);
                if (lease is null)
                {
                    await Error(context, 400, "missing lease ID");
                    return;
                }
                if (_leases.TryRemove(lease, out _))
                {
                    Revoked.Enqueue(lease);
                }
                context.Response.StatusCode = 204;
                return;
            }
        }
        if (path.StartsWith("database/creds/", StringComparison.Ordinal) && method == "GET")
        {
            var role = path["database/creds/".Length..];
            var lease = $"{path}/{Guid.NewGuid():N}";
            var user = $"v-{role}-{Random.Shared.Next(100000, 999999)}";
            var password = "dyn-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            _leases[lease] = DateTimeOffset.UtcNow + LeaseTtl;
            Issued.Enqueue(lease + " " + user + " " + password);
            await Json(context, new { request_id = Guid.NewGuid(), lease_id = lease, renewable = true, lease_duration = (long)LeaseTtl.TotalSeconds, data = new { username = user, password }, wrap_info = (object?)null, warnings = (object?)null, auth = (object?)null });
            return;
        }
        var data = path.IndexOf("/data/", StringComparison.Ordinal);
        if (data > 0 && method == "GET")
        {
            var key = path[..data] + "/" + path[(data + "/data/".Length)..];
            if (!Kv.TryGetValue(key, out var versions) || versions.Count == 0)
            {
                await Error(context, 404, "", errors: []);
                return;
            }
            var version = versions.Count;
            if (context.Request.Query.TryGetValue("version", out var pinned) && int.TryParse(pinned, out var wanted) && wanted > 0)
            {
                if (wanted > versions.Count)
                {
                    await Error(context, 404, "", errors: []);
                    return;
                }
                version = wanted;
            }
            await Json(context, new
            {
                request_id = Guid.NewGuid(),
                lease_id = "",
                renewable = false,
                lease_duration = 0,
                data = new
                {
                    data = versions[version - 1],
                    metadata = new { created_time = "2026-01-01T00:00:00Z", custom_metadata = (object?)null, deletion_time = "", destroyed = false, version },
                },
                wrap_info = (object?)null,
                warnings = (object?)null,
                auth = (object?)null,
            });
            return;
        }
        await Error(context, 404, "no handler for route");
    }

    private async Task LoginAsync(HttpContext context, string path, JsonElement body)
    {
        var mount = path["auth/".Length..^"/login".Length];
        var role = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("role", out var r) ? r.GetString() : null;
        var jwt = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("jwt", out var j) ? j.GetString() : null;
        if (string.IsNullOrEmpty(role) || string.IsNullOrEmpty(jwt))
        {
            await Error(context, 400, "missing role or jwt");
            return;
        }
        bool valid;
        if (mount == "kubernetes")
        {
            valid = CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(jwt), System.Text.Encoding.UTF8.GetBytes(KubernetesToken));
        }
        else if (mount == "jwt")
        {
            var result = await new JsonWebTokenHandler().ValidateTokenAsync(jwt, new TokenValidationParameters
            {
                IssuerSigningKey = JwtKey,
                ValidAudience = JwtAudience,
                ValidateIssuer = false,
                ClockSkew = TimeSpan.Zero,
            });
            valid = result.IsValid;
        }
        else
        {
            await Error(context, 404, "no handler for route");
            return;
        }
        if (!valid)
        {
            await Error(context, 403, "permission denied");
            return;
        }
        var token = "hvs." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _tokens[token] = (DateTimeOffset.UtcNow + TokenTtl, TokenTtl);
        Logins.Enqueue(mount + ":" + role);
        await Json(context, AuthAnswer(token, TokenTtl));
    }

    private static object AuthAnswer(string token, TimeSpan ttl) => new
    {
        request_id = Guid.NewGuid(),
        lease_id = "",
        renewable = false,
        lease_duration = 0,
        data = (object?)null,
        wrap_info = (object?)null,
        warnings = (object?)null,
        auth = new
        {
            client_token = token,
            accessor = Guid.NewGuid().ToString("N"),
            policies = new[] { "default", "proxy" },
            token_policies = new[] { "default", "proxy" },
            metadata = new { role = "proxy" },
            lease_duration = (long)ttl.TotalSeconds,
            renewable = true,
            entity_id = Guid.NewGuid(),
            token_type = "service",
            orphan = true,
        },
    };

    private static string? LeaseId(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("lease_id", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;

    private static Task Json(HttpContext context, object value)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(value));
    }

    private static Task Error(HttpContext context, int status, string message, string[]? errors = null)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { errors = errors ?? [message] }));
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
