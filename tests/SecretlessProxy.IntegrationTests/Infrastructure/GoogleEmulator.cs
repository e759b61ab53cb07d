using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// Google's Security Token Service, IAM Credentials, OAuth2 token endpoint and Secret Manager on 127.0.0.1,
/// following the published REST APIs:
/// <list type="bullet">
/// <item><c>POST /v1/token</c> (sts.googleapis.com): RFC 8693 token exchange; the audience must be the pool
/// provider, the subject token a JWT of <see cref="SubjectIssuer"/> (signature with <see cref="SubjectKey"/>, audience
/// the provider's <c>https://iam.googleapis.com/…</c> name, expiry); answers a federated access token.</item>
/// <item><c>POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken</c> (iamcredentials): a federated token
/// as bearer, the account in <see cref="ImpersonableAccounts"/>; answers <c>accessToken</c>, <c>expireTime</c>.</item>
/// <item><c>POST /token</c> (oauth2.googleapis.com): the JWT bearer grant; the assertion signed by the key of
/// <see cref="KeyFileJson"/>, audience this URL, the cloud-platform scope.</item>
/// <item><c>GET /v1/projects/P/secrets/S/versions/V:access</c>: a bearer token this emulator issued to a principal in
/// <see cref="Accessors"/> (401 UNAUTHENTICATED / 403 PERMISSION_DENIED otherwise); answers
/// <c>{name: projects/NUMBER/secrets/S/versions/N, payload: {data, dataCrc32c}}</c>.</item>
/// </list>
/// </summary>
public sealed class GoogleEmulator : IAsyncDisposable
{
    public const string ProjectNumber = "123456789012";
    public const string Provider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/prod/providers/k8s";
    public const string SubjectIssuer = "https://oidc.cluster.test";
    public const string Scope = "https://www.googleapis.com/auth/cloud-platform";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, (string Principal, DateTimeOffset ExpiresAt, bool Federated)> _tokens = new();
    private readonly RSA _saKey = RSA.Create(2048);

    private GoogleEmulator(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public ECDsaSecurityKey SubjectKey { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "cluster" };

    public string ServiceAccount { get; } = "proxy@payments-prod.iam.gserviceaccount.com";

    /// <summary>The federated principal of a subject (as the pool maps google.subject = assertion.sub).</summary>
    public static string FederatedPrincipal(string subject) => $"principal://iam.googleapis.com/projects/{ProjectNumber}/locations/global/workloadIdentityPools/prod/subject/{subject}";

    public ConcurrentBag<string> ImpersonableAccounts { get; } = [];

    public ConcurrentBag<string> Accessors { get; } = [];

    /// <summary>Secret id → versions (1-based) of values.</summary>
    public ConcurrentDictionary<string, List<string>> Secrets { get; } = new();

    public ConcurrentQueue<string> Calls { get; } = new();

    public string AddVersion(string secret, string value)
    {
        var list = Secrets.GetOrAdd(secret, _ => []);
        lock (list)
        {
            list.Add(value);
            return list.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public string MintSubjectToken(string subject = "system:serviceaccount:payments:proxy")
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = SubjectIssuer,
            Audience = "https:" + Provider,
            Claims = new Dictionary<string, object> { ["sub"] = subject },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(SubjectKey, SecurityAlgorithms.EcdsaSha256),
        });
    }

    /// <summary>A service-account key file as the console downloads it (type service_account), token_uri this emulator.</summary>
    public string KeyFileJson => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["type"] = "service_account",
        ["project_id"] = "payments-prod",
        ["private_key_id"] = "0123456789abcdef",
        ["private_key"] = _saKey.ExportPkcs8PrivateKeyPem(),
        ["client_email"] = ServiceAccount,
        ["client_id"] = "108765432109876543210",
        ["token_uri"] = new Uri(Address, "token").ToString(),
    });

    public static async Task<GoogleEmulator> StartAsync()
    {
        GoogleEmulator? self = null;
        var (app, address) = await LoopbackApp.StartAsync(context => self!.HandleAsync(context));
        self = new GoogleEmulator(app, address);
        return self;
    }

    private Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        var method = context.Request.Method;
        if (method == "POST" && path == "/v1/token")
        {
            return StsAsync(context);
        }
        if (method == "POST" && path.StartsWith("/v1/projects/-/serviceAccounts/", StringComparison.Ordinal) && path.EndsWith(":generateAccessToken", StringComparison.Ordinal))
        {
            return ImpersonateAsync(context, Uri.UnescapeDataString(path["/v1/projects/-/serviceAccounts/".Length..^":generateAccessToken".Length]));
        }
        if (method == "POST" && path == "/token")
        {
            return JwtBearerAsync(context);
        }
        if (method == "GET" && path.StartsWith("/v1/projects/", StringComparison.Ordinal) && path.EndsWith(":access", StringComparison.Ordinal))
        {
            return AccessAsync(context, path["/v1/".Length..^":access".Length]);
        }
        return ApiError(context, 404, "NOT_FOUND", "no such method");
    }

    private async Task StsAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        Calls.Enqueue("sts");
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:token-exchange" || form["requested_token_type"] != "urn:ietf:params:oauth:token-type:access_token"
            || form["subject_token_type"] != "urn:ietf:params:oauth:token-type:jwt")
        {
            await OAuthError(context, 400, "invalid_request", "unsupported grant, requested or subject token type");
            return;
        }
        if (form["audience"] != Provider)
        {
            await OAuthError(context, 400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid.");
            return;
        }
        if (form["scope"] != Scope)
        {
            await OAuthError(context, 400, "invalid_scope", "scope");
            return;
        }
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(form["subject_token"].ToString(), new TokenValidationParameters
        {
            IssuerSigningKey = SubjectKey,
            ValidIssuer = SubjectIssuer,
            ValidAudience = "https:" + Provider,
            ClockSkew = TimeSpan.Zero,
        });
        if (!result.IsValid || !result.Claims.TryGetValue("sub", out var claimed) || claimed is not string subject)
        {
            await OAuthError(context, 400, "invalid_grant", "The subject token could not be verified.");
            return;
        }
        var token = Issue(FederatedPrincipal(subject), federated: true);
        await Json(context, 200, new { access_token = token, issued_token_type = "urn:ietf:params:oauth:token-type:access_token", token_type = "Bearer", expires_in = 3600 });
    }

    private async Task ImpersonateAsync(HttpContext context, string account)
    {
        Calls.Enqueue("generateAccessToken " + account);
        if (Bearer(context) is not { } held)
        {
            await ApiError(context, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
            return;
        }
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        if (!held.Federated || !ImpersonableAccounts.Contains(account) || !body.RootElement.GetProperty("scope").EnumerateArray().Any(s => s.GetString() == Scope))
        {
            await ApiError(context, 403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
            return;
        }
        var token = Issue(account, federated: false);
        await Json(context, 200, new { accessToken = token, expireTime = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) });
    }

    private async Task JwtBearerAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        Calls.Enqueue("oauth2 jwt-bearer");
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            await OAuthError(context, 400, "unsupported_grant_type", "Invalid grant_type");
            return;
        }
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(form["assertion"].ToString(), new TokenValidationParameters
        {
            IssuerSigningKey = new RsaSecurityKey(_saKey.ExportParameters(false)),
            ValidIssuer = ServiceAccount,
            ValidAudience = new Uri(Address, "token").ToString(),
            ClockSkew = TimeSpan.FromMinutes(1),
            TryAllIssuerSigningKeys = true,
        });
        if (!result.IsValid || !result.Claims.TryGetValue("scope", out var scope) || scope as string != Scope)
        {
            await OAuthError(context, 400, "invalid_grant", "Invalid JWT Signature.");
            return;
        }
        var token = Issue(ServiceAccount, federated: false);
        await Json(context, 200, new { access_token = token, expires_in = 3599, token_type = "Bearer" });
    }

    private async Task AccessAsync(HttpContext context, string resource)
    {
        var parts = resource.Split('/');
        if (parts.Length != 6 || parts[0] != "projects" || parts[2] != "secrets" || parts[4] != "versions")
        {
            await ApiError(context, 404, "NOT_FOUND", "no such method");
            return;
        }
        if (Bearer(context) is not { } held)
        {
            Calls.Enqueue("access refused 401");
            await ApiError(context, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
            return;
        }
        if (!Accessors.Contains(held.Principal))
        {
            Calls.Enqueue("access refused 403");
            await ApiError(context, 403, "PERMISSION_DENIED", $"Permission 'secretmanager.versions.access' denied for resource '{resource}' (or it may not exist).");
            return;
        }
        var (secret, wanted) = (parts[3], parts[5]);
        Calls.Enqueue($"access {secret}/{wanted} as {held.Principal}");
        if (!Secrets.TryGetValue(secret, out var versions))
        {
            await ApiError(context, 404, "NOT_FOUND", $"Secret [projects/{ProjectNumber}/secrets/{secret}] not found or has no versions.");
            return;
        }
        string value;
        int number;
        lock (versions)
        {
            number = wanted == "latest" ? versions.Count : int.TryParse(wanted, out var n) ? n : 0;
            if (number < 1 || number > versions.Count)
            {
                value = "";
            }
            else
            {
                value = versions[number - 1];
            }
        }
        if (value.Length == 0)
        {
            await ApiError(context, 404, "NOT_FOUND", $"Secret Version [projects/{ProjectNumber}/secrets/{secret}/versions/{wanted}] not found.");
            return;
        }
        var data = Encoding.UTF8.GetBytes(value);
        await Json(context, 200, new
        {
            name = $"projects/{ProjectNumber}/secrets/{secret}/versions/{number}",
            payload = new { data = Convert.ToBase64String(data), dataCrc32c = "0" },
        });
    }

    private string Issue(string principal, bool federated)
    {
        var token = "ya29." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        _tokens[token] = (principal, DateTimeOffset.UtcNow.AddHours(1), federated);
        return token;
    }

    private (string Principal, DateTimeOffset ExpiresAt, bool Federated)? Bearer(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && _tokens.TryGetValue(header[7..], out var held) && held.ExpiresAt > DateTimeOffset.UtcNow ? held : null;
    }

    /// <summary>Revokes every access token (the next call with one answers 401).</summary>
    public void RevokeAllTokens() => _tokens.Clear();

    private static Task ApiError(HttpContext context, int code, string status, string message) =>
        Json(context, code, new { error = new { code, message, status } });

    private static Task OAuthError(HttpContext context, int code, string error, string description) =>
        Json(context, code, new { error, error_description = description });

    private static async Task Json(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=UTF-8";
        await context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _saKey.Dispose();
        SubjectKey.ECDsa.Dispose();
    }
}
