using System.Net;
using SecretlessProxy.Cli;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.Tests.Configuration;

public sealed class ConfigValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-config-").FullName;

    public ConfigValidationTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        File.WriteAllText(Path.Combine(_dir, "token.txt"), "t");
    }

    private const string ValidYaml = """
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          api: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
          github: { provider: file, path: token.txt }
        policies:
          - name: api-reads
            allow: [api]
            routes: [github]
            methods: [GET]
            paths: ["/github/**"]
            schedule: { days: [weekdays], from: "08:00", to: "18:00", timeZone: UTC }
        ReverseProxy:
          Routes:
            github:
              ClusterId: gh
              Match: { Path: "/github/{**rest}" }
              Metadata: { Credential: github }
              Transforms: [ { PathRemovePrefix: /github }, { RequestHeader: X-Source, Set: secretless } ]
          Clusters:
            gh:
              Destinations: { d1: { Address: "https://api.github.com/" } }
              HttpRequest: { Version: "2" }
              HealthCheck: { Active: { Enabled: true, Interval: "00:00:10", Timeout: "00:00:02", Policy: ConsecutiveFailures, Path: /healthz } }
        """;

    private async Task<ConfigCompilation> CompileAsync(string text, string name = "config.yaml")
    {
        var path = Path.Combine(_dir, name);
        await File.WriteAllTextAsync(path, text);
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        result.Config?.Dispose();
        return result;
    }

    [Fact]
    public async Task Valid_yaml_compiles()
    {
        var result = await CompileAsync(ValidYaml);
        Assert.Empty(result.Errors);
        Assert.NotNull(result.Config);
    }

    [Fact]
    public async Task Json_is_accepted_too()
    {
        var json = """
            {
              "listeners": [ { "name": "mtls", "url": "https://127.0.0.1:0", "certificate": { "cert": "server.pem", "key": "server.key" }, "trustBundles": { "example.org": "example.org.pem" } } ],
              "credentials": { "k": { "provider": "env", "variable": "SOME_VAR", "inject": { "type": "query", "name": "key" } } },
              "policies": [ { "name": "p", "allow": ["spiffe://example.org/*"], "routes": ["r"] } ],
              "ReverseProxy": { "Routes": { "r": { "ClusterId": "c", "Match": { "Path": "/{**rest}" }, "Metadata": { "Credential": "k" } } },
                                "Clusters": { "c": { "Destinations": { "d": { "Address": "http://127.0.0.1:1/" } } } } }
            }
            """;
        var result = await CompileAsync(json, "config.json");
        Assert.Empty(result.Errors);
    }

    [Fact]
    public async Task Reports_every_error_with_file_line_key_and_fix()
    {
        var broken = ValidYaml
            .Replace("cert: server.pem", "cert: missing.pem", StringComparison.Ordinal)
            .Replace("spiffeId: spiffe://example.org/ns/payments/sa/api", "spiffeId: spiffe://Example.org/ns/payments", StringComparison.Ordinal)
            .Replace("provider: file", "provider: fil", StringComparison.Ordinal)
            .Replace("Metadata: { Credential: github }", "Metadata: { Credential: gitlab }", StringComparison.Ordinal)
            .Replace("methods: [GET]", "methods: [FETCH]", StringComparison.Ordinal)
            + "\nlisteners_extra: 1\n";
        var result = await CompileAsync(broken);
        Assert.Null(result.Config);
        var text = string.Join("\n", result.Errors);
        Assert.Contains("config.yaml:4: listeners[0].certificate.cert: the file", text, StringComparison.Ordinal);
        Assert.Contains("missing.pem' does not exist", text, StringComparison.Ordinal);
        Assert.Contains("identities.api.spiffeId: is not a valid SPIFFE ID or pattern: the trust domain must be lowercase (value: 'spiffe://Example.org/ns/payments')", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.provider: 'fil' is not a known credential provider (value: 'fil'). Fix: did you mean 'file'?", text, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy.Routes.github.Metadata.Credential: names credential 'gitlab', which is not defined under credentials", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].methods[0]: 'FETCH' is not an HTTP method", text, StringComparison.Ordinal);
        Assert.Contains("listeners_extra", text, StringComparison.Ordinal);
        Assert.True(result.Errors.Count >= 6, text);
        Assert.All(result.Errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Fix)));
        Assert.All(result.Errors, e => Assert.NotNull(e.Line));
    }

    [Fact]
    public async Task Policy_references_are_checked()
    {
        var broken = ValidYaml
            .Replace("allow: [api]", "allow: [apii, \"spiffe://example.org/a/*/b\"]", StringComparison.Ordinal)
            .Replace("routes: [github]", "routes: [githb]", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("policies[0].allow[0]: 'apii' is not a defined identity", text, StringComparison.Ordinal);
        Assert.Contains("did you mean 'api'?", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].allow[1]: is not a valid SPIFFE ID pattern", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].routes[0]: names route 'githb'", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Yarp_validation_and_cluster_references_are_reported()
    {
        var broken = ValidYaml.Replace("ClusterId: gh\n", "ClusterId: ghh\n", StringComparison.Ordinal)
            .Replace("Match: { Path: \"/github/{**rest}\" }", "Match: { Methods: [GET] }", StringComparison.Ordinal)
            .Replace("PathRemovePrefix: /github", "PathRemovePrefx: /github", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("ReverseProxy.Routes.github.ClusterId: names cluster 'ghh'", text, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy.Routes.github:", text, StringComparison.Ordinal);
        Assert.Contains("PathRemovePrefx", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Typos_deep_inside_yarp_config_are_reported()
    {
        var broken = ValidYaml
            .Replace("Match: { Path: \"/github/{**rest}\" }", "Match: { Path: \"/github/{**rest}\", Hedaers: [] , Methds: [GET] }", StringComparison.Ordinal)
            .Replace("Active: { Enabled: true,", "Actve: { Enabled: true,", StringComparison.Ordinal)
            .Replace("d1: { Address: \"https://api.github.com/\" }", "d1: { Adress: \"https://api.github.com/\" }", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("ReverseProxy.Routes.github.Match.Methds: 'Methds' is not a key of 'Match'", text, StringComparison.Ordinal);
        Assert.Contains("did you mean 'Methods'?", text, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy.Clusters.gh.HealthCheck.Actve", text, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy.Clusters.gh.Destinations.d1.Adress", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oauth2_provider_validates_its_keys()
    {
        var broken = ValidYaml.Replace("github: { provider: file, path: token.txt }",
            "github: { provider: oauth2-client-credentials, tokenUrl: not-a-url, clientAuth: private_key_jwt, privateKey: missing.pem }", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("credentials.github.tokenUrl: is not an http(s) URL", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.clientId: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.privateKey: the file", text, StringComparison.Ordinal);

        var twoSecrets = ValidYaml.Replace("github: { provider: file, path: token.txt }",
            "github: { provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientSecretFile: s, clientSecretEnv: S, maxTtl: \"00:05:00\" }", StringComparison.Ordinal);
        Assert.Contains("needs exactly one of clientSecretFile and clientSecretEnv", string.Join("\n", (await CompileAsync(twoSecrets)).Errors), StringComparison.Ordinal);

        var both = twoSecrets.Replace("tokenUrl: \"https://idp/token\"", "tokenUrl: \"https://idp/token\", issuer: \"https://idp\"", StringComparison.Ordinal);
        Assert.Contains("exactly one of tokenUrl and issuer is required", string.Join("\n", (await CompileAsync(both)).Errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oauth2_key_files_that_are_not_usable_keys_are_config_errors_not_crashes()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "garbage.pem"), "canary-not-a-key-61c2");
        using (var p384 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
        {
            await File.WriteAllTextAsync(Path.Combine(_dir, "p384.pem"), p384.ExportPkcs8PrivateKeyPem());
        }
        using (var p256 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(Path.Combine(_dir, "p256.pem"), p256.ExportPkcs8PrivateKeyPem());
        }
        string With(string credential) => ValidYaml.Replace("github: { provider: file, path: token.txt }", "github: " + credential, StringComparison.Ordinal);

        var garbage = await CompileAsync(With("{ provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientAuth: private_key_jwt, privateKey: garbage.pem }"));
        Assert.Null(garbage.Config);
        var text = string.Join("\n", garbage.Errors);
        Assert.Contains("credentials.github.privateKey: the file", text, StringComparison.Ordinal);
        Assert.Contains("does not hold a PEM private key", text, StringComparison.Ordinal);
        Assert.DoesNotContain("canary-not-a-key-61c2", text, StringComparison.Ordinal);

        var curve = string.Join("\n", (await CompileAsync(With("{ provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientAuth: private_key_jwt, privateKey: p384.pem }"))).Errors);
        Assert.Contains("holds an EC key on a 384-bit curve (only P-256, for ES256, is supported)", curve, StringComparison.Ordinal);

        var exchange = string.Join("\n", (await CompileAsync(With("{ provider: oauth2-token-exchange, tokenUrl: \"https://idp/token\", clientId: c, clientSecretFile: token.txt, subjectSigningKey: garbage.pem }"))).Errors);
        Assert.Contains("credentials.github.subjectSigningKey: the file", exchange, StringComparison.Ordinal);
        Assert.Contains("does not hold a PEM private key", exchange, StringComparison.Ordinal);

        var unused = string.Join("\n", (await CompileAsync(With("{ provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientSecretFile: token.txt, privateKey: p256.pem }"))).Errors);
        Assert.Contains("credentials.github.privateKey: is only used with clientAuth: private_key_jwt (this credential uses client_secret_basic)", unused, StringComparison.Ordinal);

        var mixed = string.Join("\n", (await CompileAsync(With("{ provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientAuth: private_key_jwt, privateKey: p256.pem, clientSecretFile: token.txt }"))).Errors);
        Assert.Contains("is not used with private_key_jwt", mixed, StringComparison.Ordinal);

        Assert.Empty((await CompileAsync(With("{ provider: oauth2-client-credentials, tokenUrl: \"https://idp/token\", clientId: c, clientAuth: private_key_jwt, privateKey: p256.pem }"))).Errors);
    }

    [Fact]
    public async Task A_route_no_rule_names_is_flagged_but_one_a_deny_rule_fences_is_not()
    {
        var withAdmin = ValidYaml.Replace("  Routes:\n", "  Routes:\n    admin: { ClusterId: gh, Match: { Path: \"/admin/{**rest}\" } }\n", StringComparison.Ordinal);
        var unnamed = await CompileAsync(withAdmin);
        Assert.Empty(unnamed.Errors);
        var warning = Assert.Single(unnamed.Warnings, w => w.KeyPath.Contains("admin", StringComparison.Ordinal));
        Assert.Contains("no policy rule names route 'admin', so every call to it is denied", warning.ToString(), StringComparison.Ordinal);

        var fenced = await CompileAsync(withAdmin.Replace("ReverseProxy:\n", "  - name: nobody-uses-admin\n    deny: [api]\n    routes: [admin]\nReverseProxy:\n", StringComparison.Ordinal));
        Assert.Empty(fenced.Errors);
        Assert.DoesNotContain(fenced.Warnings, w => w.KeyPath.Contains("admin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Caching_knobs_on_static_secrets_and_protocols_on_the_admin_listener_are_flagged()
    {
        var result = await CompileAsync(ValidYaml
            .Replace("github: { provider: file, path: token.txt }", "github: { provider: file, path: token.txt, maxTtl: \"00:05:00\", refreshFraction: 0.5 }", StringComparison.Ordinal)
            .Replace("    role: admin\n", "    role: admin\n    protocols: [http2]\n", StringComparison.Ordinal));
        Assert.Empty(result.Errors);
        var warnings = string.Join("\n", result.Warnings);
        Assert.Contains("credentials.github.maxTtl: has no effect on a 'file' credential", warnings, StringComparison.Ordinal);
        Assert.Contains("credentials.github.refreshFraction: has no effect", warnings, StringComparison.Ordinal);
        Assert.Contains("listeners[1].protocols: is ignored on the admin listener", warnings, StringComparison.Ordinal);

        var methods = string.Join("\n", (await CompileAsync(ValidYaml.Replace("methods: [GET]", "methods: [FETCH]", StringComparison.Ordinal))).Errors);
        Assert.Contains("'FETCH' is not an HTTP method", methods, StringComparison.Ordinal);
        Assert.Contains("TRACE or CONNECT", methods, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attested_by_takes_the_known_attestation_kinds_only()
    {
        var valid = await CompileAsync(ValidYaml.Replace("    methods: [GET]\n", "    methods: [GET]\n    attestedBy: [x509-svid, unix-peer]\n", StringComparison.Ordinal));
        Assert.Empty(valid.Errors);
        var rule = valid.Config!.Policy.Rules.Single();
        Assert.Equal([SecretlessProxy.Identity.AttestationKind.X509Svid, SecretlessProxy.Identity.AttestationKind.UnixPeer], rule.AttestedBy!.Order());
        valid.Config.Dispose();

        var broken = await CompileAsync(ValidYaml.Replace("    methods: [GET]\n", "    methods: [GET]\n    attestedBy: [x509, kerberos]\n", StringComparison.Ordinal));
        var text = string.Join("\n", broken.Errors);
        Assert.Contains("policies[0].attestedBy[0]: 'x509' is not an attestation kind", text, StringComparison.Ordinal);
        Assert.Contains("'kerberos' is not an attestation kind", text, StringComparison.Ordinal);
        Assert.Contains("jwt, loopback, unix-peer, x509-svid", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Jwt_provider_validates_its_keys()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "not-a-key.pem"), "hello");
        var broken = ValidYaml.Replace("github: { provider: file, path: token.txt }",
            "github: { provider: jwt, signingKey: not-a-key.pem, ttl: \"00:30:00\", maxTtl: \"00:05:00\", claims: { sub: x } }", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("credentials.github.signingKey: the file", text, StringComparison.Ordinal);
        Assert.Contains("not-a-key.pem' is not a usable PEM private key: it does not hold a PEM private key", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.issuer: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.audience: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.ttl: is longer than the credential's maxTtl", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.claims.sub: is a registered claim", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_exchange_provider_validates_its_keys()
    {
        var broken = ValidYaml.Replace("github: { provider: file, path: token.txt }",
            "github: { provider: oauth2-token-exchange, tokenUrl: \"https://idp/token\", clientId: c, clientSecretEnv: S, subjectTtl: \"01:00:00\" }", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("credentials.github.subjectSigningKey: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.subjectTtl: is not a duration between 10 seconds and 10 minutes", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Syntax_error_names_the_line()
    {
        var result = await CompileAsync("listeners:\n  - name: a\n   url: [unclosed\n");
        var error = Assert.Single(result.Errors);
        Assert.Equal("config.yaml", error.File);
        Assert.NotNull(error.Line);
        Assert.Contains("not valid YAML", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_http_proxy_listener_needs_an_identity_and_bundles_need_valid_names()
    {
        var plain = ValidYaml.Replace("url: https://127.0.0.1:0", "url: http://127.0.0.1:0", StringComparison.Ordinal);
        Assert.Contains("a plain http proxy listener must be bound to the identity its callers are", string.Join("\n", (await CompileAsync(plain)).Errors), StringComparison.Ordinal);
        var badBundle = ValidYaml.Replace("trustBundles: { example.org: example.org.pem }", "trustBundles: { Example.org: example.org.pem }", StringComparison.Ordinal);
        Assert.Contains("'Example.org' is not a valid trust domain name", string.Join("\n", (await CompileAsync(badBundle)).Errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provider_keys_are_validated_by_the_provider()
    {
        var broken = ValidYaml.Replace("github: { provider: file, path: token.txt }", "github: { provider: file, pth: token.txt }", StringComparison.Ordinal);
        var text = string.Join("\n", (await CompileAsync(broken)).Errors);
        Assert.Contains("credentials.github.path: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.github.pth: 'pth' is not a key of a 'file' credential", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_secret_pasted_into_a_credential_key_is_not_echoed()
    {
        const string Canary = "ghp_canary0123456789=abcdef";
        var broken = ValidYaml.Replace("github: { provider: file, path: token.txt }", $"github: {{ provider: env, variable: \"{Canary}\", trim: x }}", StringComparison.Ordinal);
        var errors = (await CompileAsync(broken)).Errors;
        Assert.Contains(errors, e => e.KeyPath == "credentials.github.variable");
        Assert.DoesNotContain(Canary, string.Join("\n", errors), StringComparison.Ordinal);
    }

    private static string Sidecar(string listeners, string identities, string policyExtra = "") => $$"""
        listeners:
        {{listeners}}
        identities:
        {{identities}}
        credentials:
          github: { provider: file, path: token.txt }
        policies:
          - name: r
            allow: ["spiffe://example.org/*"]
            routes: [github]
        {{policyExtra}}
        ReverseProxy:
          Routes:
            github: { ClusterId: gh, Match: { Path: "/github/{**rest}" }, Metadata: { Credential: github } }
          Clusters:
            gh: { Destinations: { d1: { Address: "https://api.github.com/" } } }
        """;

    [Fact]
    public async Task Sidecar_listeners_and_unix_identities_compile()
    {
        var result = await CompileAsync(Sidecar(
            "  - { name: sock, url: \"unix:run/proxy.sock\", socket: { mode: \"0660\", owner: root, group: root } }\n" +
            "  - { name: app, url: \"http://127.0.0.1:0\", identity: app }\n" +
            "  - { name: admin, role: admin, url: \"unix:run/admin.sock\", allow: [{ uid: 0 }, { group: root }] }\n" +
            "  - { name: probes, role: admin, url: \"http://127.0.0.1:0\" }",
            "  app: { spiffeId: spiffe://example.org/app }\n" +
            "  worker: { spiffeId: spiffe://example.org/worker, unix: { user: root, path: /usr/bin/worker, sha256: " + new string('A', 64) + " } }\n" +
            "  other: { spiffeId: spiffe://example.org/other, unix: { uid: 1001, cgroup: /kubepods.slice/ } }",
            "  - { name: vouched, allow: [worker], routes: [github], when: { attestation: unix-peer, uid: 0, sha256: " + new string('A', 64) + " } }"));
        Assert.Empty(result.Errors);
        var config = await OfflineCompiler.CompileAsync(Path.Combine(_dir, "config.yaml"), SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        using var compiled = config.Config!;
        var sock = compiled.Listener("sock")!;
        Assert.Equal(Path.Combine(_dir, "run/proxy.sock"), sock.UnixSocketPath);
        Assert.Equal((UnixFileMode)Convert.ToInt32("660", 8), sock.Socket.Mode);
        Assert.Equal(0, sock.Socket.OwnerUid);
        Assert.Equal(SecretlessProxy.Identity.AttestationKind.UnixPeer, sock.Attestor);
        Assert.Equal(SecretlessProxy.Identity.AttestationKind.Loopback, compiled.Listener("app")!.Attestor);
        Assert.Equal(Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1, compiled.Listener("app")!.Protocols);
        Assert.Equal(2, compiled.Listener("admin")!.AdminUnixAllow!.Count);
        var worker = compiled.LocalIdentities.Named("worker")!;
        Assert.Equal(0u, worker.Unix!.Uid);
        Assert.Equal(new string('a', 64), worker.Unix.Sha256);
        var rule = compiled.Policy.Rules.Single(r => r.Name == "vouched");
        Assert.Equal(["sha256=" + new string('a', 64), "uid=0"], rule.When!.Select(w => w.ToString()).Order());
    }

    [Theory]
    [InlineData("  - { name: sock, url: \"unix:\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "names no socket file")]
    [InlineData("  - { name: plain, url: \"http://127.0.0.1:0\" }", "a: { spiffeId: spiffe://example.org/a }", "must be bound to the identity its callers are")]
    [InlineData("  - { name: plain, url: \"http://127.0.0.1:0\", identity: nobody }", "a: { spiffeId: spiffe://example.org/a }", "'nobody' is not an identity with one exact SPIFFE ID")]
    [InlineData("  - { name: plain, url: \"http://127.0.0.1:0\", identity: a }", "a: { spiffeId: \"spiffe://example.org/a/*\" }", "'a' is not an identity with one exact SPIFFE ID")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\", identity: a }", "a: { spiffeId: spiffe://example.org/a }", "applies to a plain http proxy listener on loopback only")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\", socket: { mode: rw } }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "'rw' is not an octal file mode")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\", socket: { owner: no-such-user-here } }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "there is no user 'no-such-user-here' on this host")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }\n  - { name: admin, role: admin, url: \"unix:a.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "is required for an admin socket")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }\n  - { name: admin, role: admin, url: \"unix:a.sock\", allow: [spiffe://example.org/admin] }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "is not a uid or group rule")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }\n  - { name: admin, role: admin, url: \"https://127.0.0.1:0\", unsafeOpenLoopback: true }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "applies to a plain http loopback admin listener only")]
    [InlineData("  - { name: a, url: \"unix:x.sock\" }\n  - { name: b, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }", "use the same socket file")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1001 } }\n  b: { spiffeId: spiffe://example.org/b, unix: { path: /usr/bin/b } }", "one caller could match both identities 'a' (uid 1001) and 'b' (path /usr/bin/b)")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { user: no-such-user-here } }", "there is no user 'no-such-user-here' on this host")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1, user: root } }", "and uid are both given")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { sha256: abc } }", "is not a SHA-256 in hex")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { path: bin/a } }", "is not an absolute path")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { } }", "names no selector")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: \"spiffe://example.org/a/*\", unix: { uid: 1 } }", "must be one exact SPIFFE ID")]
    [InlineData("  - { name: sock, url: \"unix:x.sock\" }", "a: { spiffeId: spiffe://example.org/a, unix: { uid: 1, pid: 5 } }", "pid")]
    public async Task Sidecar_mistakes_are_named(string listeners, string identities, string expected)
    {
        var text = string.Join("\n", (await CompileAsync(Sidecar(listeners, "  " + identities))).Errors);
        Assert.Contains(expected, text, StringComparison.Ordinal);
    }

    private string ForwardProxy(string forward, string url = "http://127.0.0.1:0\", identity: a", string files = "")
    {
        using var ca = DevCertificateAuthority.Create("interception CA", TimeSpan.FromDays(1));
        ca.Save(Path.Combine(_dir, "icpt"));
        return Sidecar($"  - {{ name: fwd, url: \"{url}, forwardProxy: {forward} }}", "  a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }") + files;
    }

    [Fact]
    public async Task A_forward_proxy_listener_compiles_with_a_dev_ca_as_its_interception_ca()
    {
        var result = await CompileAsync(ForwardProxy("{ interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key }, upstreamCaFile: example.org.pem }"));
        Assert.Empty(result.Errors);
        var forward = result.Config!.Listener("fwd")!.ForwardProxy!;
        Assert.Single(forward.UpstreamRoots);
        var leaf = forward.Ca.LeafFor("api.example.test");
        Assert.Same(leaf, forward.Ca.LeafFor("API.example.test"));
        Assert.Equal(1, forward.Ca.Minted);
        Assert.Equal("CN=api.example.test", leaf.TargetCertificate.Subject);
        Assert.True(leaf.TargetCertificate.NotAfter - leaf.TargetCertificate.NotBefore <= TimeSpan.FromHours(25));
        Assert.NotNull(System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPublicKey(leaf.TargetCertificate));
        Assert.Empty((await CompileAsync(ForwardProxy("{ interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key } }", url: "unix:fwd.sock\""))).Errors);
    }

    [Theory]
    [InlineData("{ upstreamCaFile: example.org.pem }", "is required: the forward proxy mints")]
    [InlineData("{ interceptionCa: { cert: missing.pem, key: icpt/ca.key } }", "missing.pem' does not exist")]
    [InlineData("{ interceptionCa: { cert: icpt/ca.pem, key: missing.key } }", "missing.key' does not exist")]
    [InlineData("{ interceptionCa: { cert: server.pem, key: server.key } }", "is not a CA")]
    [InlineData("{ interceptionCa: { cert: icpt/ca.pem, key: server.key } }", "does not belong to the CA certificate")]
    [InlineData("{ interceptionCa: { cert: token.txt, key: icpt/ca.key } }", "holds no PEM certificate")]
    [InlineData("{ interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key }, upstreamCaFile: nope.pem }", "nope.pem' does not exist")]
    [InlineData("{ interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key }, upstreamCaFile: token.txt }", "holds no certificate")]
    [InlineData("{ interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key }, upstream: x }", "upstream")]
    public async Task Forward_proxy_mistakes_are_named(string forward, string expected)
    {
        var text = string.Join("\n", (await CompileAsync(ForwardProxy(forward))).Errors);
        Assert.Contains(expected, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forward_proxy_mode_compiles_on_an_mtls_listener_and_is_refused_on_an_admin_listener()
    {
        using var ca = DevCertificateAuthority.Create("interception CA", TimeSpan.FromDays(1));
        ca.Save(Path.Combine(_dir, "icpt"));
        var mtls = ValidYaml.Replace("trustBundles: { example.org: example.org.pem }", "trustBundles: { example.org: example.org.pem }\n    forwardProxy: { interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key } }", StringComparison.Ordinal);
        var compiled = await CompileAsync(mtls);
        Assert.Empty(compiled.Errors);
        Assert.NotNull(compiled.Config!.Listener("mtls")!.ForwardProxy);
        var admin = ValidYaml.Replace("    role: admin\n    url: http://127.0.0.1:0", "    role: admin\n    url: http://127.0.0.1:0\n    forwardProxy: { interceptionCa: { cert: icpt/ca.pem, key: icpt/ca.key } }", StringComparison.Ordinal);
        Assert.Contains("applies to a proxy listener", string.Join("\n", (await CompileAsync(admin)).Errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tunnel: { Match: { Hosts: [git.example.com] }, Metadata: { Forward: passthrough } }", null)]
    [InlineData("tunnel: { Match: { Hosts: [git.example.com] }, Metadata: { Forward: opaque } }", "'opaque' is not a forward mode")]
    [InlineData("tunnel: { Match: { Path: /x }, Metadata: { Forward: passthrough } }", "is required for a pass-through route")]
    [InlineData("tunnel: { Match: { Hosts: [git.example.com], Path: /x }, Metadata: { Forward: passthrough } }", "does not apply to a pass-through route: the proxy does not see requests")]
    [InlineData("tunnel: { Match: { Hosts: [git.example.com] }, Metadata: { Forward: passthrough, Credential: github } }", "nothing is injected into an opaque tunnel")]
    [InlineData("tunnel: { ClusterId: gh, Match: { Hosts: [git.example.com] }, Metadata: { Forward: passthrough } }", "the tunnel goes to the host the client named")]
    [InlineData("tunnel: { Match: { Hosts: [api.example.com] }, Metadata: { Forward: passthrough } }\n    both: { ClusterId: gh, Match: { Hosts: [api.example.com] } }", "is also named by an intercepting route")]
    public async Task Passthrough_routes_are_checked(string routes, string? expected)
    {
        var yaml = ValidYaml.Replace("  Routes:\n", "  Routes:\n    " + routes + "\n", StringComparison.Ordinal);
        var errors = string.Join("\n", (await CompileAsync(yaml)).Errors);
        if (expected is null)
        {
            Assert.Equal("", errors);
        }
        else
        {
            Assert.Contains(expected, errors, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("when: { attestation: kernel }", "'kernel' is not an attestation kind")]
    [InlineData("when: { euid: 1 }", "'euid' is not a fact attestors report")]
    [InlineData("when: unix-peer", "must be a map of facts")]
    [InlineData("attestedBy: [unix-peer]\n    when: { attestation: loopback }", "and attestedBy are both given")]
    public async Task Rule_conditions_on_attestation_are_checked(string condition, string expected)
    {
        var text = string.Join("\n", (await CompileAsync(Sidecar("  - { name: app, url: \"http://127.0.0.1:0\", identity: a }", "  a: { spiffeId: spiffe://example.org/a }",
            "  - name: cond\n    allow: [a]\n    routes: [github]\n    " + condition))).Errors);
        Assert.Contains(expected, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_path_longer_than_a_socket_address_holds_is_refused()
    {
        var text = string.Join("\n", (await CompileAsync(Sidecar("  - { name: sock, url: \"unix:/run/" + new string('s', 120) + ".sock\" }", "  a: { spiffeId: spiffe://example.org/a, unix: { uid: 1 } }"))).Errors);
        Assert.Contains("the most a Unix socket address holds", text, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Redis_cache_needs_an_encryption_key_and_never_echoes_the_connection_string()
    {
        var result = await CompileAsync(ValidYaml + "\ncache:\n  redis:\n    configuration: \"127.0.0.1:6379,password=canary-redis-pw,=,\"\n    lockTimout: 00:00:01\n");
        Assert.Null(result.Config);
        var text = string.Join("\n", result.Errors);
        Assert.Contains("cache.redis.encryptionKey: is required", text, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", text, StringComparison.Ordinal);
        Assert.Contains("'lockTimout' is not a key of cache.redis", text, StringComparison.Ordinal);
        Assert.Contains("did you mean 'lockTimeout'", text, StringComparison.Ordinal);
        Assert.DoesNotContain("canary-redis-pw", text, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(_dir, "cache.key"), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        var warned = await CompileAsync(ValidYaml + "\ncache:\n  redis:\n    configuration: \"127.0.0.1:6379,password=canary-redis-pw\"\n    encryptionKey: cache.key\n");
        Assert.Empty(warned.Errors);
        var warning = Assert.Single(warned.Warnings, w => w.KeyPath.Contains("cache", StringComparison.Ordinal));
        Assert.Contains("passwordFile", warning.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("canary-redis-pw", warning.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grants_are_kept_in_redis_when_the_cache_uses_redis_and_store_redis_needs_it()
    {
        var refused = await CompileAsync(ValidYaml + "\ngrants: { store: redis }\n");
        Assert.Contains(refused.Errors, e => e.ToString().Contains("grants.store: is redis, but cache.redis is not configured", StringComparison.Ordinal));
        Assert.Contains(refused.Errors, e => e.ToString().Contains("store: file", StringComparison.Ordinal));
        Assert.Contains((await CompileAsync(ValidYaml + "\ngrants: { store: disk }\n")).Errors, e => e.ToString().Contains("'disk' is not a grant store", StringComparison.Ordinal));

        var byDefault = await CompileAsync(ValidYaml);
        Assert.Empty(byDefault.Errors);
        await File.WriteAllTextAsync(Path.Combine(_dir, "cache.key"), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        const string Redis = "\ncache:\n  redis: { configuration: 127.0.0.1:6379, encryptionKey: cache.key }\n";
        var shared = await CompileAsync(ValidYaml + Redis);
        Assert.Empty(shared.Errors);
        var local = await CompileAsync(ValidYaml + Redis + "grants: { store: file }\n");
        Assert.Empty(local.Errors);
        Assert.Equal(SecretlessProxy.Grants.GrantStoreKind.File, byDefault.Config!.Grants.Store);
        Assert.Equal(SecretlessProxy.Grants.GrantStoreKind.Redis, shared.Config!.Grants.Store);
        Assert.Equal(SecretlessProxy.Grants.GrantStoreKind.File, local.Config!.Grants.Store);
    }

    [Fact]
    public async Task Redis_cache_key_file_must_hold_32_bytes()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "weak.key"), "hunter2");
        var result = await CompileAsync(ValidYaml + "\ncache:\n  memory: false\n  redis:\n    configuration: 127.0.0.1:6379\n    encryptionKey: weak.key\n    previousEncryptionKeys: [gone.key]\n    operationTimeout: forever\n");
        var text = string.Join("\n", result.Errors);
        Assert.Contains("cache.redis.encryptionKey: the file does not hold a 32-byte key in base64 or hex", text, StringComparison.Ordinal);
        Assert.Contains("cache.redis.previousEncryptionKeys[0]: the file", text, StringComparison.Ordinal);
        Assert.Contains("gone.key' does not exist", text, StringComparison.Ordinal);
        Assert.Contains("cache.redis.operationTimeout: is not a duration", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(_dir, "cache.key"), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        var valid = await CompileAsync(ValidYaml + "\ncache:\n  redis:\n    configuration: 127.0.0.1:6379\n    encryptionKey: cache.key\n");
        Assert.Empty(valid.Errors);
        Assert.Null((await CompileAsync(ValidYaml + "\ncache:\n  memory: false\n")).Config);
    }

    [Fact]
    public async Task Conditional_access_keys_are_checked_with_a_fix_each()
    {
        const string schedule = "    schedule: { days: [weekdays], from: \"08:00\", to: \"18:00\", timeZone: UTC }";
        Assert.Contains(schedule, ValidYaml, StringComparison.Ordinal);
        var text = ValidYaml.Replace(schedule,
            "    when:\n" +
            "      facts: { posture: compliant }\n" +
            "      request: { listener: mtsl, sourceAddress: [10.0.0.0/33], method: [GET] }\n" +
            "      time: [ { days: [weekdays], from: \"08:00\", to: \"18:00\" }, { days: [sat], from: \"25:00\" } ]", StringComparison.Ordinal)
            + "\ndecisionHook: { url: http://127.0.0.1:8181, routes: [gihtub], onError: maybe }\n";
        var result = await CompileAsync(text);
        var messages = result.Errors.Select(e => e.ToString()).ToList();
        Assert.Contains(messages, m => m.Contains("when.facts: names context facts, but no posture source is configured", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("names listener 'mtsl'", StringComparison.Ordinal) && m.Contains("mtls", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("'10.0.0.0/33' is not an address or network", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("when.request.method: and the rule's methods are both given", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("'25:00' is not a time of day", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("decisionHook.path: is required", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("names route 'gihtub'", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("decisionHook.onError: 'maybe' is not deny or allow", StringComparison.Ordinal));

        var good = ValidYaml.Replace(schedule, "    when: { facts: { posture: compliant, env: [prod, staging] }, request: { sourceAddress: [10.0.0.0/8, \"::1\"] } }", StringComparison.Ordinal)
            + "\nposture: { file: posture.json, pollInterval: 1s, maxAge: 2m }\ndecisionHook: { url: http://127.0.0.1:8181, path: secretless/allow, timeout: 250ms, cacheTtl: 5s }\n";
        var compiled = await CompileAsync(good);
        Assert.Empty(compiled.Errors);
    }
}
