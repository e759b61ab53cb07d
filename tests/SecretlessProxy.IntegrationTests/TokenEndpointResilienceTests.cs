using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.OAuth2;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The OAuth2 provider's Polly pipeline against a token endpoint that fails on purpose (a real OAuth2 server
/// cannot be told to fail on cue): transient failures are retried, refusals are not, slow answers time out.
/// </summary>
public sealed class TokenEndpointResilienceTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private int _requests;
    private Func<int, HttpContext, Task> _behaviour = (_, _) => Task.CompletedTask;
    private Uri _tokenUrl = null!;

    public async Task InitializeAsync()
    {
        var (app, address) = await Infrastructure.LoopbackApp.StartAsync(context => _behaviour(Interlocked.Increment(ref _requests), context));
        _app = app;
        _tokenUrl = new Uri(address, "token");
    }

    private ICredentialProvider Provider(string timeout = "00:00:05", Dictionary<string, string?>? extra = null)
    {
        var values = new Dictionary<string, string?> { ["c:timeout"] = timeout };
        foreach (var (key, value) in extra ?? [])
        {
            values[key] = value;
        }
        return Provider(new ClientCredentialsProviderFactory(), values);
    }

    private ICredentialProvider Provider(ICredentialProviderFactory factory, Dictionary<string, string?>? extra = null)
    {
        Environment.SetEnvironmentVariable("SECRETLESS_TEST_CLIENT_SECRET", "s3cret");
        var values = new Dictionary<string, string?>
        {
            ["c:tokenUrl"] = _tokenUrl.ToString(),
            ["c:clientId"] = "proxy",
            ["c:clientSecretEnv"] = "SECRETLESS_TEST_CLIENT_SECRET",
        };
        foreach (var (key, value) in extra ?? [])
        {
            values[key] = value;
        }
        var section = new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("c");
        var errors = new List<string>();
        var config = new PluginConfig("api", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (k, m, _) => errors.Add(k + m));
        factory.Validate(config);
        Assert.Empty(errors);
        return factory.Build(config);
    }

    private static Task Token(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync("{\"access_token\":\"tok-ok\",\"token_type\":\"Bearer\",\"expires_in\":60}");
    }

    private static Task Fail(HttpContext context, int status, string error)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync($"{{\"error\":\"{error}\"}}");
    }

    [Fact]
    public async Task Extra_parameters_are_sent_by_both_grant_types()
    {
        var forms = new System.Collections.Concurrent.ConcurrentQueue<IFormCollection>();
        _behaviour = async (_, context) =>
        {
            forms.Enqueue(await context.Request.ReadFormAsync());
            await Token(context);
        };
        var keyFile = Path.Combine(Path.GetTempPath(), $"subject-{Guid.NewGuid():N}.pem");
        using (var ec = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(keyFile, ec.ExportPkcs8PrivateKeyPem());
        }
        try
        {
            using (var clientCredentials = Provider(extra: new() { ["c:parameters:tenant"] = "blue" }))
            {
                await clientCredentials.GetCredentialAsync(new CredentialRequest("api", "r", null), default);
            }
            using (var exchange = Provider(new TokenExchangeProviderFactory(), new() { ["c:parameters:tenant"] = "green", ["c:subjectSigningKey"] = keyFile }))
            {
                await exchange.GetCredentialAsync(new CredentialRequest("api", "r", "spiffe://example.org/ns/a/sa/b"), default);
            }
        }
        finally
        {
            File.Delete(keyFile);
        }
        var sent = forms.ToArray();
        Assert.Equal("client_credentials", sent[0]["grant_type"]);
        Assert.Equal("blue", sent[0]["tenant"]);
        Assert.Equal("urn:ietf:params:oauth:grant-type:token-exchange", sent[1]["grant_type"]);
        Assert.Equal("green", sent[1]["tenant"]);
    }

    [Fact]
    public async Task Transient_failures_are_retried()
    {
        _behaviour = (n, context) => n <= 2 ? Fail(context, 503, "temporarily_unavailable") : Token(context);
        using var provider = Provider();
        var credential = await provider.GetCredentialAsync(new CredentialRequest("api", "r", null), default);
        Assert.Equal("tok-ok", credential.Secret.Reveal());
        Assert.Equal(3, _requests);
    }

    [Fact]
    public async Task Auth_refusals_are_not_retried()
    {
        _behaviour = (_, context) => Fail(context, 401, "invalid_client");
        using var provider = Provider();
        var ex = await Assert.ThrowsAsync<CredentialUnavailableException>(async () => await provider.GetCredentialAsync(new CredentialRequest("api", "r", null), default));
        Assert.False(ex.IsOutage);
        Assert.Contains("invalid_client", ex.Reason, StringComparison.Ordinal);
        Assert.Equal(1, _requests);
    }

    [Fact]
    public async Task A_slow_endpoint_times_out_as_an_outage()
    {
        _behaviour = async (_, context) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        // Long enough per attempt that each one reaches the server even on a loaded 2-core machine (at 300 ms the
        // third attempt sometimes timed out before its request was written), short against the server's 10 s.
        using var provider = Provider(timeout: "00:00:01.500");
        var ex = await Assert.ThrowsAsync<CredentialUnavailableException>(async () => await provider.GetCredentialAsync(new CredentialRequest("api", "r", null), default));
        Assert.True(ex.IsOutage);
        Assert.Contains("timed out", ex.Reason, StringComparison.Ordinal);
        // The last attempt may reach the server a moment after the client gave up on it (a loaded machine).
        await Eventually.Until(() => Volatile.Read(ref _requests) >= 3, "the last attempt reaches the server", lastSeen: () => $"{Volatile.Read(ref _requests)} attempt(s) reached it");
        Assert.Equal(3, Volatile.Read(ref _requests));
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
