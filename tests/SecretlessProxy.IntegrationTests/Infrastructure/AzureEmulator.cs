using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// Microsoft Entra ID's token endpoint and an Azure Key Vault, on one HTTPS listener on 127.0.0.1 (a certificate
/// from the test's server CA), following the published APIs:
/// <list type="bullet">
/// <item><c>POST /{tenant}/oauth2/v2.0/token</c>, the client-credentials grant with a client assertion
/// (<c>client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer</c>). A federated credential:
/// the assertion is the workload's token, its signature checked against <see cref="FederatedIssuerKey"/>, issuer,
/// subject and audience <c>api://AzureADTokenExchange</c>. A certificate: the assertion is signed by the client
/// certificate's key (checked with <see cref="ClientCertificate"/>'s public key), issuer and subject the client id,
/// audience the token endpoint. A <c>client_secret</c> is refused. The access token is a JWT for the scope's resource
/// (<c>https://vault.azure.net/.default</c> → audience <c>https://vault.azure.net</c>).</item>
/// <item><c>GET /secrets/{name}[/{version}]?api-version=…</c>: without a valid bearer token (signature, expiry,
/// audience <c>https://vault.azure.net</c>), 401 with <c>WWW-Authenticate: Bearer authorization="…/{tenant}",
/// resource="https://vault.azure.net"</c> (the challenge the Azure SDKs answer); otherwise the secret bundle
/// (<c>value</c>, <c>id</c> ending in the version, <c>attributes</c>), or 404 <c>SecretNotFound</c>.</item>
/// </list>
/// Checked against Azure's own <c>@azure/keyvault-secrets</c> in <c>AzureKeyVaultTests</c>.
/// </summary>
public sealed class AzureEmulator : IAsyncDisposable
{
    public const string VaultResource = "https://vault.azure.net";
    public const string FederatedAudience = "api://AzureADTokenExchange";
    public const string FederatedIssuer = "https://oidc.cluster.test";

    private readonly WebApplication _app;
    private readonly ECDsaSecurityKey _signing = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "entra-test" };

    private AzureEmulator(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>The listener (both the authority host and the vault URI).</summary>
    public Uri Address { get; }

    public string TenantId { get; } = Guid.NewGuid().ToString();

    public string ClientId { get; } = Guid.NewGuid().ToString();

    /// <summary>The subject the federated credential accepts (a Kubernetes service account).</summary>
    public string FederatedSubject { get; set; } = "system:serviceaccount:payments:proxy";

    /// <summary>The workload's token issuer (the cluster's OIDC issuer) that the federated credential trusts.</summary>
    public ECDsaSecurityKey FederatedIssuerKey { get; } = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "cluster" };

    /// <summary>The certificate registered on the app (its public key verifies certificate assertions).</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Secret name → versions (oldest first) of (version id, value).</summary>
    public ConcurrentDictionary<string, List<(string Version, string Value)>> Secrets { get; } = new();

    public ConcurrentQueue<string> TokenRequests { get; } = new();

    public ConcurrentQueue<string> SecretReads { get; } = new();

    public ConcurrentQueue<string> Challenges { get; } = new();

    public ConcurrentQueue<string> Refusals { get; } = new();

    public string AddVersion(string name, string value)
    {
        var version = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Secrets.AddOrUpdate(name, _ => [(version, value)], (_, list) => { lock (list) { list.Add((version, value)); } return list; });
        return version;
    }

    /// <summary>A token of the workload's issuer, as the kubelet projects it for workload identity.</summary>
    public string MintFederatedToken(string? subject = null, string audience = FederatedAudience)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = FederatedIssuer,
            Audience = audience,
            Claims = new Dictionary<string, object> { ["sub"] = subject ?? FederatedSubject },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(FederatedIssuerKey, SecurityAlgorithms.EcdsaSha256),
        });
    }

    public static async Task<AzureEmulator> StartAsync(TestPki pki)
    {
        using var issued = pki.ServerCa.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        var certificate = X509CertificateLoader.LoadPkcs12(issued.Export(X509ContentType.Pkcs12), null);
        AzureEmulator? self = null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        app.Run(context => self!.HandleAsync(context));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new AzureEmulator(app, new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal) + "/"));
        return self;
    }

    private Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (context.Request.Method == "POST" && path == $"/{TenantId}/oauth2/v2.0/token")
        {
            return TokenAsync(context);
        }
        if (context.Request.Method == "GET" && path.StartsWith("/secrets/", StringComparison.Ordinal))
        {
            return SecretAsync(context, path["/secrets/".Length..].TrimEnd('/'));
        }
        return Problem(context, 404, new { error = new { code = "NotFound", message = "no such endpoint" } });
    }

    private async Task TokenAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        string Field(string name) => form[name].ToString();
        TokenRequests.Enqueue(Field("scope"));
        if (form.ContainsKey("client_secret"))
        {
            await Refuse(context, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
            return;
        }
        if (Field("grant_type") != "client_credentials" || Field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            await Refuse(context, 400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'client_assertion'.");
            return;
        }
        if (Field("client_id") != ClientId)
        {
            await Refuse(context, 400, "unauthorized_client", "AADSTS700016: Application not found in the directory.");
            return;
        }
        var scope = Field("scope").Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
        if (!scope.EndsWith("/.default", StringComparison.Ordinal))
        {
            await Refuse(context, 400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.");
            return;
        }
        var assertion = Field("client_assertion");
        var handler = new JsonWebTokenHandler();
        var federated = await handler.ValidateTokenAsync(assertion, new TokenValidationParameters
        {
            IssuerSigningKey = FederatedIssuerKey,
            ValidIssuer = FederatedIssuer,
            ValidAudience = FederatedAudience,
            ClockSkew = TimeSpan.Zero,
        });
        var valid = federated.IsValid && federated.Claims.TryGetValue("sub", out var sub) && sub as string == FederatedSubject;
        if (!valid && ClientCertificate is { } certificate)
        {
            var tokenUrl = new Uri(Address, $"{TenantId}/oauth2/v2.0/token").ToString();
            var signed = await handler.ValidateTokenAsync(assertion, new TokenValidationParameters
            {
                IssuerSigningKey = new X509SecurityKey(certificate),
                ValidIssuer = ClientId,
                ValidAudiences = [tokenUrl, new Uri(Address, $"{TenantId}/v2.0").ToString()],
                ClockSkew = TimeSpan.FromMinutes(1),
                TryAllIssuerSigningKeys = true,
            });
            valid = signed.IsValid && signed.Claims.TryGetValue("sub", out var certSub) && certSub as string == ClientId;
        }
        if (!valid)
        {
            await Refuse(context, 401, "invalid_client", "AADSTS700213: No matching federated identity record found for presented assertion.");
            return;
        }
        var resource = scope[..^"/.default".Length];
        var now = DateTime.UtcNow;
        var token = handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = $"https://sts.windows.net/{TenantId}/",
            Audience = resource,
            Claims = new Dictionary<string, object> { ["tid"] = TenantId, ["appid"] = ClientId, ["sub"] = ClientId },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddHours(1),
            SigningCredentials = new SigningCredentials(_signing, SecurityAlgorithms.EcdsaSha256),
        });
        await Json(context, 200, new { token_type = "Bearer", expires_in = 3599, ext_expires_in = 3599, access_token = token });
    }

    private async Task SecretAsync(HttpContext context, string rest)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var bearer = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : null;
        var valid = bearer is not null && (await new JsonWebTokenHandler().ValidateTokenAsync(bearer, new TokenValidationParameters
        {
            IssuerSigningKey = _signing,
            ValidIssuer = $"https://sts.windows.net/{TenantId}/",
            ValidAudience = VaultResource,
            ClockSkew = TimeSpan.Zero,
        })).IsValid;
        if (!valid)
        {
            Challenges.Enqueue(bearer is null ? "no token" : "token refused");
            context.Response.Headers.WWWAuthenticate = $"Bearer authorization=\"{new Uri(Address, TenantId)}\", resource=\"{VaultResource}\"";
            await Problem(context, 401, new { error = new { code = "Unauthorized", message = bearer is null ? "AKV10000: Request is missing a Bearer or PoP token." : "AKV10022: Invalid audience." } });
            return;
        }
        var apiVersion = context.Request.Query["api-version"].ToString();
        if (apiVersion.Length == 0)
        {
            await Problem(context, 400, new { error = new { code = "BadParameter", message = "The 'api-version' query parameter is missing." } });
            return;
        }
        var parts = rest.Split('/');
        var name = parts[0];
        var wanted = parts.Length > 1 ? parts[1] : null;
        (string Version, string Value)? found = null;
        if (Secrets.TryGetValue(name, out var versions))
        {
            lock (versions)
            {
                found = wanted is null ? versions[^1] : versions.FirstOrDefault(v => v.Version == wanted) is { Version: not null } v ? v : null;
            }
        }
        SecretReads.Enqueue($"{name}/{wanted ?? "(current)"} api-version={apiVersion}");
        if (found is not { } secret)
        {
            await Problem(context, 404, new { error = new { code = "SecretNotFound", message = $"A secret with (name/id) {name} was not found in this key vault." } });
            return;
        }
        var created = DateTimeOffset.UtcNow.AddDays(-3).ToUnixTimeSeconds();
        await Json(context, 200, new
        {
            value = secret.Value,
            id = new Uri(Address, $"secrets/{name}/{secret.Version}").ToString(),
            attributes = new { enabled = true, created, updated = created, recoveryLevel = "Recoverable+Purgeable", recoverableDays = 90 },
            tags = new Dictionary<string, string>(),
        });
    }

    private Task Refuse(HttpContext context, int status, string error, string description)
    {
        Refusals.Enqueue(error);
        return Json(context, status, new { error, error_description = description, error_codes = new[] { int.Parse(description[6..description.IndexOf(':', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) }, timestamp = DateTime.UtcNow.ToString("u"), trace_id = Guid.NewGuid(), correlation_id = Guid.NewGuid() });
    }

    private static Task Problem(HttpContext context, int status, object body) => Json(context, status, body);

    private static async Task Json(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _signing.ECDsa.Dispose();
        FederatedIssuerKey.ECDsa.Dispose();
    }
}
