using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>A real oidc-provider (npm) on 127.0.0.1, started for a test and stopped after; counts the tokens it issues.</summary>
public sealed class OidcServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private OidcServer(Process process, int port, bool https)
    {
        _process = process;
        Port = port;
        _scheme = https ? "https" : "http";
    }

    private readonly string _scheme;

    public int Port { get; }

    public Uri TokenUrl => new($"{_scheme}://127.0.0.1:{Port}/token");

    public Uri Issuer => new($"{_scheme}://127.0.0.1:{Port}");

    /// <summary>Tokens the server bound to a client certificate (RFC 8705 <c>cnf.x5t#S256</c>): token id → thumbprint.</summary>
    public IReadOnlyDictionary<string, string> BoundTokens => _lines
        .Where(l => l.StartsWith("token-bound ", StringComparison.Ordinal))
        .Select(l => l.Split(' '))
        .ToDictionary(parts => parts[1], parts => parts[2]);

    public int TokensIssued => _lines.Count(l => l.StartsWith("token-issued", StringComparison.Ordinal));

    public string Output => string.Join("\n", _lines);

    /// <summary>
    /// The server's log arrives through a pipe, a moment after the HTTP answer: wait until at least
    /// <paramref name="atLeast"/> tokens were issued (failing when they are not), then a little longer so an extra
    /// one would be seen too.
    /// </summary>
    public async Task<int> TokensIssuedAsync(int atLeast)
    {
        await Eventually.Until(() => TokensIssued >= atLeast, $"the OIDC server has issued {atLeast} token(s)", lastSeen: () => $"issued {TokensIssued}; output:\n{Output}");
        // Not a condition to wait for: an extra token that was wrongly fetched has no moment to wait for.
        await Task.Delay(200);
        return TokensIssued;
    }

    /// <summary>Every client-credentials token issued so far: its value and when it expires (the server's own word).</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> IssuedTokens => _lines
        .Where(l => l.StartsWith("token-issued ", StringComparison.Ordinal))
        .Select(l => l.Split(' '))
        .Where(parts => parts.Length == 4 && long.TryParse(parts[3], out _))
        .ToDictionary(parts => parts[2], parts => DateTimeOffset.FromUnixTimeSeconds(long.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture)));

    public IEnumerable<string> Exchanged => _lines.Where(l => l.StartsWith("exchanged ", StringComparison.Ordinal)).Select(l => l["exchanged ".Length..]);

    /// <summary>The tokens revoked at the server (RFC 7009), by value.</summary>
    public IEnumerable<string> Revoked => _lines.Where(l => l.StartsWith("revoked ", StringComparison.Ordinal)).Select(l => l["revoked ".Length..]);

    /// <summary>How often the revocation endpoint was called while it was down (<c>revocationDown</c>).</summary>
    public int RevocationsRefused => _lines.Count(l => l == "revocation-down");

    /// <summary>RFC 7662 introspection of a token as the client it was issued to: whether the server still takes it.</summary>
    public async Task<bool> IsActiveAsync(string token, string clientId, string clientSecret) =>
        (await IntrospectAsync(token, clientId, clientSecret)).GetProperty("active").GetBoolean();

    /// <summary>RFC 7662 introspection of a token as the client it was issued to: the server's whole answer (active, sub, act, aud, ...).</summary>
    public async Task<JsonElement> IntrospectAsync(string token, string clientId, string clientSecret)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Issuer, "/token/introspection"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(clientId)}:{Uri.EscapeDataString(clientSecret)}")));
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"introspection answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>
    /// An ID token for a person, signed by the server with its own keys (served at its JWKS) for <paramref name="clientId"/>
    /// (which needs the grant type <c>urn:secretless:test:id-token</c>): the result of a login, without the browser.
    /// </summary>
    public async Task<string> IdTokenAsync(string clientId, string clientSecret, string subject, string? name = null, IEnumerable<string>? groups = null, int expiresIn = 300,
        IReadOnlyDictionary<string, string>? claims = null)
    {
        using var http = new HttpClient();
        var form = new Dictionary<string, string> { ["grant_type"] = IdTokenGrant, ["sub"] = subject, ["expires_in"] = expiresIn.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (name is not null)
        {
            form["name"] = name;
        }
        if (groups is not null)
        {
            form["groups"] = string.Join(' ', groups);
        }
        if (claims is not null)
        {
            form["claims"] = JsonSerializer.Serialize(claims);
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, TokenUrl) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(clientId)}:{Uri.EscapeDataString(clientSecret)}")));
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"the ID token request answered {(int)response.StatusCode}: {text}\n{Output}");
        return JsonDocument.Parse(text).RootElement.GetProperty("id_token").GetString()!;
    }

    public const string IdTokenGrant = "urn:secretless:test:id-token";

    /// <param name="tls">HTTPS with RFC 8705 mTLS: the server's PEM certificate and key, and the CA client certificates are verified against.</param>
    public static async Task<OidcServer> StartAsync(string workDir, object[] clients, int tokenTtlSeconds = 300, Uri? subjectJwks = null, bool revocationDown = false,
        (string Cert, string Key, string Ca)? tls = null)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        var oidcDir = Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "oidc");
        Assert.True(Directory.Exists(Path.Combine(oidcDir, "node_modules", "oidc-provider")),
            $"oidc-provider is not installed in {oidcDir}: run 'bash scripts/test.sh' (it runs npm ci there)");

        var port = LoopbackPorts.Next();
        var configPath = Path.Combine(workDir, $"oidc-{port}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new { port, clients, tokenTtl = tokenTtlSeconds, subjectJwks = subjectJwks?.ToString(), revocationDown,
            tls = tls is { } t ? new { cert = t.Cert, key = t.Key, ca = t.Ca } : null }));
        var start = new ProcessStartInfo("node") { WorkingDirectory = oidcDir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("server.mjs");
        start.ArgumentList.Add(configPath);
        var process = Process.Start(start)!;
        var server = new OidcServer(process, port, tls is not null);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            if (e.Data.StartsWith("listening", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
            else
            {
                server._lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return server;
    }

    /// <summary>Freezes the server process (SIGSTOP): connections are accepted by the kernel, nothing is answered.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>Lets a paused server run again (SIGCONT).</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
