using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Sidecar mode with real processes and real users: clients (curl, a .NET HttpClient) run as test users made with
/// useradd and call through a Unix socket, where the kernel names them, or through a loopback listener bound to one
/// identity. The admin socket and the plain loopback admin listener keep the application out of the admin API.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SidecarTests : IAsyncLifetime
{
    private const string WorkerId = "spiffe://example.org/ns/jobs/sa/worker";
    private const string PinnedId = "spiffe://example.org/ns/jobs/sa/pinned";
    private const string TesterId = "spiffe://example.org/ns/ci/sa/tester";

    private readonly TestPki _pki = new();
    private string _dir = "";
    private string _pinned = "";
    private string _swap = "";
    private string _pinnedSha256 = "";
    private LocalUsers _users = null!;

    public async Task InitializeAsync()
    {
        _users = await LocalUsers.EnsureAsync();
        // Sockets and executables live where every test user can reach them (the PKI folder is root's alone).
        _dir = Directory.CreateTempSubdirectory("secretless-sock-").FullName;
        File.SetUnixFileMode(_dir, (UnixFileMode)Convert.ToInt32("755", 8));
        _pinned = Path.Combine(_dir, "curl-pinned");
        _swap = Path.Combine(_dir, "curl-swap");
        File.Copy("/usr/bin/curl", _pinned);
        File.Copy("/usr/bin/curl", _swap);
        _pinnedSha256 = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(_pinned)));
    }

    private static string Self => new FileInfo("/proc/self/exe").LinkTarget!;

    private string Config(Uri upstream) => $$"""
        listeners:
          - name: socket
            url: unix:{{_dir}}/proxy.sock
            socket: { mode: "0666" }
          - name: h2c
            url: unix:{{_dir}}/h2c.sock
            socket: { mode: "0666" }
            protocols: [http2]
          - name: app
            url: http://127.0.0.1:0
            identity: worker
          - name: wide
            url: http://0.0.0.0:0
            identity: worker
          - name: admin
            role: admin
            url: http://127.0.0.1:0
          - name: admin-socket
            role: admin
            url: unix:{{_dir}}/admin.sock
            socket: { mode: "0666" }
            allow: [{ uid: 0 }, { group: {{LocalUsers.SreGroup}} }]
        identities:
          worker:
            spiffeId: {{WorkerId}}
            unix: { uid: {{_users.Worker.Uid}} }
          pinned:
            spiffeId: {{PinnedId}}
            unix: { uid: 0, path: {{_pinned}}, sha256: {{_pinnedSha256}} }
          swapped:
            spiffeId: spiffe://example.org/ns/jobs/sa/swapped
            unix: { uid: 0, path: {{_swap}} }
          tester:
            spiffeId: {{TesterId}}
            unix: { uid: 0, path: {{Self}} }
        credentials:
          github:
            provider: file
            path: github-token.txt
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
        policies:
          - name: workloads-use-allowed
            allow: [worker, pinned, swapped, tester]
            routes: [allowed]
          - name: only-what-the-kernel-vouched-for
            allow: [worker]
            routes: [vouched]
            when: { attestation: unix-peer, uid: {{_users.Worker.Uid}} }
        ReverseProxy:
          Routes:
            allowed: { ClusterId: upstream, Match: { Path: "/allowed/{**rest}" }, Metadata: { Credential: github } }
            vouched: { ClusterId: upstream, Match: { Path: "/vouched/{**rest}" }, Metadata: { Credential: github } }
            denied: { ClusterId: upstream, Match: { Path: "/denied/{**rest}" }, Metadata: { Credential: github } }
          Clusters:
            upstream:
              Destinations:
                d1: { Address: "{{upstream}}" }
        """;

    private string Socket => Path.Combine(_dir, "proxy.sock");

    private static Task<Curl.Result> CurlAs(LocalUser user, string socket, string path) =>
        Curl.RunWithAsync([.. user.Setpriv(), "curl"], "--unix-socket", socket, "http://localhost" + path);

    [Fact]
    public async Task The_kernel_names_each_caller_the_matching_uid_gets_the_credential_and_another_uid_gets_401()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);

        var worker = await CurlAs(_users.Worker, Socket, "/allowed/orders");
        Assert.Equal(200, worker.Status);
        var seen = Assert.Single(proxy.Upstream.Requests);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "socket");
        Assert.Equal(WorkerId, record.GetProperty("identity").GetString());
        Assert.Equal("unix-peer", record.GetProperty("attestation").GetString());
        Assert.Equal(_users.Worker.Uid, record.GetProperty("peer").GetProperty("uid").GetUInt32());
        Assert.Equal("/usr/bin/curl", record.GetProperty("peer").GetProperty("path").GetString());

        var stranger = await CurlAs(_users.Stranger, Socket, "/allowed/orders");
        Assert.Equal(401, stranger.Status);
        using var problem = JsonDocument.Parse(stranger.Body);
        Assert.Equal("unknown_local_caller", problem.RootElement.GetProperty("reason").GetString());
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains($"uid {_users.Stranger.Uid}, executable /usr/bin/curl", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("pid", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("gid", detail, StringComparison.Ordinal);
        Assert.Single(proxy.Upstream.Requests);
        var refused = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("reason").GetString() == "unknown_local_caller");
        Assert.Equal(_users.Stranger.Uid, refused.GetProperty("peer").GetProperty("uid").GetUInt32());
        Assert.Equal(JsonValueKind.Null, refused.GetProperty("identity").ValueKind);

        // A rule may require what the kernel vouched for: the worker over the socket, not the same identity over loopback.
        Assert.Equal(200, (await CurlAs(_users.Worker, Socket, "/vouched/x")).Status);
        Assert.Equal(403, (await Curl.RunAsync(new Uri(proxy.Host.GetListenerUri("app"), "/vouched/x").ToString())).Status);
        AssertNoCanary(proxy, stranger.Body);
    }

    [Fact]
    public async Task A_copy_of_the_allowed_binary_with_one_changed_byte_is_refused_on_sha256()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var pinned = await Curl.RunWithAsync([_pinned], "--unix-socket", Socket, "http://localhost/allowed/report");
        Assert.Equal(200, pinned.Status);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == PinnedId);
        Assert.Equal(_pinnedSha256, record.GetProperty("peer").GetProperty("sha256").GetString());

        // The same path, the same size, one byte of a help text changed: still a working curl, another hash.
        var bytes = await File.ReadAllBytesAsync(_pinned);
        var at = bytes.AsSpan().IndexOf("Usage: curl"u8);
        Assert.True(at > 0, "curl holds its usage text");
        bytes[at] = (byte)'u';
        var tampered = _pinned + ".new";
        await File.WriteAllBytesAsync(tampered, bytes);
        File.SetUnixFileMode(tampered, File.GetUnixFileMode(_pinned));
        File.Move(tampered, _pinned, overwrite: true);
        var refused = await Curl.RunWithAsync([_pinned], "--unix-socket", Socket, "http://localhost/allowed/report");
        Assert.Equal(401, refused.Status);
        Assert.Contains("\"reason\":\"unknown_local_caller\"", refused.Body, StringComparison.Ordinal);
        Assert.Contains("executable " + _pinned, refused.Body, StringComparison.Ordinal);
        Assert.Single(proxy.Upstream.Requests);
    }

    [Fact]
    public async Task A_process_whose_executable_was_replaced_after_it_started_is_refused()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        Assert.Equal(200, (await Curl.RunWithAsync([_swap], "--unix-socket", Socket, "http://localhost/allowed/a")).Status);

        // curl -K - reads its arguments from stdin before it connects: it is running when its file is replaced.
        var start = new ProcessStartInfo(_swap) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-sS", "--max-time", "20", "-w", "\n%{http_code}", "-K", "-" })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var replacement = _swap + ".new";
        File.Copy("/usr/bin/curl", replacement);
        File.Move(replacement, _swap, overwrite: true);
        await process.StandardInput.WriteLineAsync($"unix-socket = \"{Socket}\"");
        await process.StandardInput.WriteLineAsync("url = \"http://localhost/allowed/b\"");
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.EndsWith("\n401", output, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"executable_replaced\"", output, StringComparison.Ordinal);
        Assert.Single(proxy.Upstream.Requests);

        // A process started from the file now at that path is that file again.
        Assert.Equal(200, (await Curl.RunWithAsync([_swap], "--unix-socket", Socket, "http://localhost/allowed/c")).Status);
    }

    [Fact]
    public async Task A_dotnet_client_calls_over_http1_and_h2c_and_the_inventory_names_the_executables()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using (var http1 = UnixSocketHttp.Client(Socket))
        {
            using var response = await http1.GetAsync("/allowed/one");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version11, response.Version);
        }
        using (var h2c = UnixSocketHttp.Client(Path.Combine(_dir, "h2c.sock"), HttpVersion.Version20))
        {
            using var response = await h2c.GetAsync("/allowed/two");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
        }
        Assert.All(proxy.Upstream.Requests, r => Assert.Equal("Bearer " + ProxyUnderTest.Canary, r.Headers["Authorization"]));
        Assert.Equal(200, (await CurlAs(_users.Worker, Socket, "/allowed/three")).Status);
        await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == WorkerId);

        using var admin = new AdminClient(proxy);
        var (status, inventory) = await admin.GetAsync("/inventory");
        Assert.Equal(200, status);
        var identities = inventory.GetProperty("identities").EnumerateArray().ToDictionary(i => i.GetProperty("identity").GetString()!);
        var tester = identities[TesterId];
        Assert.Equal(["unix-peer"], tester.GetProperty("attestations").EnumerateArray().Select(a => a.GetString()!));
        var executable = Assert.Single(Assert.Single(tester.GetProperty("credentials").EnumerateArray()).GetProperty("executables").EnumerateArray());
        Assert.Equal(Self, executable.GetProperty("path").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Self))), executable.GetProperty("sha256").GetString());
        var worker = Assert.Single(Assert.Single(identities[WorkerId].GetProperty("credentials").EnumerateArray()).GetProperty("executables").EnumerateArray());
        Assert.Equal("/usr/bin/curl", worker.GetProperty("path").GetString());
        AssertNoCanary(proxy, inventory.GetRawText());
    }

    [Fact]
    public async Task The_loopback_listener_is_its_identity_on_its_routes_only_and_refuses_peers_beyond_loopback()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var app = proxy.Host.GetListenerUri("app");
        Assert.Equal(200, (await Curl.RunAsync(new Uri(app, "/allowed/x").ToString())).Status);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "app");
        Assert.Equal(WorkerId, record.GetProperty("identity").GetString());
        Assert.Equal("loopback", record.GetProperty("attestation").GetString());
        Assert.Equal(403, (await Curl.RunAsync(new Uri(app, "/denied/x").ToString())).Status);
        Assert.Equal(403, (await Curl.RunAsync(new Uri(app, "/vouched/x").ToString())).Status);
        Assert.Single(proxy.Upstream.Requests);
        Assert.Contains("every process in this network namespace that can reach it is that identity", proxy.Logs.Text, StringComparison.Ordinal);
        var metrics = await Scrape.MetricsAsync(proxy);
        Assert.Equal(1, Scrape.Value(metrics, "secretless_requests_by_attestation_total", "attestation=\"loopback\",outcome=\"allow\""));
        Assert.Equal(2, Scrape.Value(metrics, "secretless_requests_by_attestation_total", "attestation=\"loopback\",outcome=\"deny\""));

        // The 'wide' listener was bound to 0.0.0.0 by mistake: a peer on another address of this host is not on loopback.
        var address = NonLoopbackAddress();
        var wide = proxy.Host.GetListenerUri("wide");
        var beyond = await Curl.RunAsync("--interface", address.ToString(), $"http://{address}:{wide.Port}/allowed/x");
        Assert.Equal(401, beyond.Status);
        Assert.Contains("\"reason\":\"not_loopback\"", beyond.Body, StringComparison.Ordinal);
        Assert.Equal(200, (await Curl.RunAsync(new Uri(wide, "/allowed/x").ToString())).Status);
        Assert.Equal(2, proxy.Upstream.Requests.Count);
    }

    [Fact]
    public async Task Admin_writes_need_an_admin_uid_or_group_on_the_socket_and_are_closed_on_plain_loopback()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var admin = Path.Combine(_dir, "admin.sock");
        const string grant = "{\"identity\":\"" + WorkerId + "\",\"route\":\"denied\",\"duration\":\"00:10:00\",\"approver\":\"myself\",\"reason\":\"self-service\"}";
        string[] post = ["-X", "POST", "-H", "Content-Type: application/json", "--data", grant, "--unix-socket", admin, "http://localhost/grants"];

        var byApplication = await Curl.RunWithAsync([.. _users.Worker.Setpriv(), "curl"], post);
        Assert.Equal(403, byApplication.Status);
        Assert.Contains("\"reason\":\"not_an_admin\"", byApplication.Body, StringComparison.Ordinal);
        Assert.Contains($"uid {_users.Worker.Uid}", byApplication.Body, StringComparison.Ordinal);
        Assert.Equal(403, (await Curl.RunWithAsync([.. _users.Worker.Setpriv(), "curl"], "--unix-socket", admin, "http://localhost/config")).Status);

        // A member of the admin group (a supplementary group) may read; root may write, and is recorded as the creator.
        Assert.Equal(200, (await Curl.RunWithAsync([.. _users.Operator.Setpriv(), "curl"], "--unix-socket", admin, "http://localhost/config")).Status);
        var byRoot = await Curl.RunAsync(post);
        Assert.Equal(201, byRoot.Status);
        using (var created = JsonDocument.Parse(byRoot.Body))
        {
            Assert.Equal("unix:uid=0", created.RootElement.GetProperty("createdBy").GetString());
        }

        // The plain loopback admin listener: probes and metrics only.
        var plain = proxy.AdminUri;
        var open = await Curl.RunAsync("-X", "POST", "-H", "Content-Type: application/json", "--data", grant, new Uri(plain, "/grants").ToString());
        Assert.Equal(403, open.Status);
        Assert.Contains("\"reason\":\"admin_authentication_required\"", open.Body, StringComparison.Ordinal);
        Assert.Equal(403, (await Curl.RunAsync("-X", "POST", new Uri(plain, "/credentials/github/revoke").ToString())).Status);
        Assert.Equal(403, (await Curl.RunAsync(new Uri(plain, "/inventory").ToString())).Status);
        Assert.Equal(200, (await Curl.RunAsync(new Uri(plain, "/metrics").ToString())).Status);
        Assert.Equal(200, (await Curl.RunAsync(new Uri(plain, "/healthz").ToString())).Status);
        AssertNoCanary(proxy, byApplication.Body + open.Body);
    }

    [Fact]
    public async Task A_stale_socket_file_is_replaced_at_start_and_a_live_one_is_refused()
    {
        // A socket file whose server died: node listens on it and kills itself, so nothing unlinks it.
        var (exit, _, _) = await SecretlessProxy.Testing.ChildProcess.RunAsync("node",
            ["-e", $"require('net').createServer().listen({JsonSerializer.Serialize(Socket)}, () => process.kill(process.pid, 'SIGKILL'))"]);
        Assert.NotEqual(0, exit);
        Assert.True(File.Exists(Socket), "the dead server left its socket file");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        Assert.Equal(200, (await CurlAs(_users.Worker, Socket, "/allowed/x")).Status);

        var second = await Assert.ThrowsAsync<IOException>(() => ProxyUnderTest.StartAsync(_pki, Config, configName: "second.yaml"));
        Assert.Contains("another process is serving the socket", second.Message, StringComparison.Ordinal);
        Assert.Equal(200, (await CurlAs(_users.Worker, Socket, "/allowed/y")).Status);
    }

    private static IPAddress NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("this host has no non-loopback IPv4 address to connect from");

    private static void AssertNoCanary(ProxyUnderTest proxy, string bodies)
    {
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Decisions.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, bodies, StringComparison.Ordinal);
    }

    public Task DisposeAsync()
    {
        _pki.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }
}
