using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.WorkloadApi.Protocol;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A SPIFFE Workload API server (the public workload.proto, served by Grpc.AspNetCore on a Unix socket), standing in
/// for a SPIRE agent: it streams the proxy's X.509-SVID and the X.509 bundles, sends each again when the test rotates
/// them, and signs JWT-SVIDs for the requested audiences. Like an agent it refuses calls without the
/// <c>workload.spiffe.io: true</c> header. It can be created stopped (the agent is down) and started later on the
/// same socket.
/// </summary>
public sealed class WorkloadApiServer : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private X509SVIDResponse? _svids;
    private X509BundlesResponse? _bundles;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _app;

    public WorkloadApiServer(string directory)
    {
        SocketPath = Path.Combine(directory, $"agent-{Guid.NewGuid().ToString("N")[..8]}.sock");
    }

    public string SocketPath { get; }

    /// <summary>The key JWT-SVIDs are signed with (ES256); tests verify tokens with its public half.</summary>
    public ECDsa JwtKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>The SPIFFE ID JWT-SVIDs are issued for (the proxy's).</summary>
    public string JwtSpiffeId { get; set; } = "spiffe://example.org/secretless-proxy";

    /// <summary>Calls the server refused for a missing security header.</summary>
    public int RefusedWithoutHeader { get; private set; }

    /// <summary>Sets the proxy's X.509-SVID (the certificate with its key, then intermediates); open streams get it at once.</summary>
    public void SetSvid(X509Certificate2 leaf, string spiffeId, X509Certificate2 trustDomainCa, params X509Certificate2[] intermediates)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(trustDomainCa);
        using var key = leaf.GetECDsaPrivateKey() ?? throw new ArgumentException("the SVID needs its ECDSA private key", nameof(leaf));
        var svid = new X509SVID
        {
            SpiffeId = spiffeId,
            X509Svid = ByteString.CopyFrom([.. leaf.RawData, .. intermediates.SelectMany(c => c.RawData)]),
            X509SvidKey = ByteString.CopyFrom(key.ExportPkcs8PrivateKey()),
            Bundle = ByteString.CopyFrom(trustDomainCa.RawData),
        };
        var response = new X509SVIDResponse();
        response.Svids.Add(svid);
        Publish(() => _svids = response);
    }

    /// <summary>Sets the X.509 bundles by trust domain name (keyed by the trust domain's SPIFFE ID on the wire).</summary>
    public void SetBundles(IReadOnlyDictionary<string, X509Certificate2[]> bundles)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        var response = new X509BundlesResponse();
        foreach (var (domain, certificates) in bundles)
        {
            response.Bundles["spiffe://" + domain] = ByteString.CopyFrom([.. certificates.SelectMany(c => c.RawData)]);
        }
        Publish(() => _bundles = response);
    }

    /// <summary>Starts serving (the agent comes up).</summary>
    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(SocketPath, listen => listen.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync();
        _app = app;
    }

    private void Publish(Action update)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            update();
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Sends the current value of a stream, then each new one, until the caller goes away.</summary>
    private async Task StreamAsync<T>(Func<T?> current, IServerStreamWriter<T> writer, ServerCallContext context)
        where T : class
    {
        CheckHeader(context);
        T? sent = null;
        while (!context.CancellationToken.IsCancellationRequested)
        {
            Task changed;
            T? value;
            lock (_lock)
            {
                changed = _changed.Task;
                value = current();
            }
            if (value is not null && !ReferenceEquals(value, sent))
            {
                await writer.WriteAsync(value, context.CancellationToken);
                sent = value;
            }
            try
            {
                await changed.WaitAsync(context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void CheckHeader(ServerCallContext context)
    {
        if (context.RequestHeaders.GetValue("workload.spiffe.io") != "true")
        {
            RefusedWithoutHeader++;
            throw new RpcException(new Status(StatusCode.InvalidArgument, "security header missing from request"));
        }
    }

    private JWTSVIDResponse IssueJwt(JWTSVIDRequest request, ServerCallContext context)
    {
        CheckHeader(context);
        if (request.Audience.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "audience must be specified"));
        }
        var now = DateTime.UtcNow;
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object> { ["sub"] = JwtSpiffeId, ["aud"] = request.Audience.ToArray() },
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(JwtKey) { KeyId = "agent-key" }, SecurityAlgorithms.EcdsaSha256),
        });
        var response = new JWTSVIDResponse();
        response.Svids.Add(new JWTSVID { SpiffeId = JwtSpiffeId, Svid = token });
        return response;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        File.Delete(SocketPath);
        JwtKey.Dispose();
    }

    /// <summary>The gRPC service: the workload.proto contract over this server's state.</summary>
    internal sealed class Service(WorkloadApiServer server) : SpiffeWorkloadAPI.SpiffeWorkloadAPIBase
    {
        public override Task FetchX509SVID(X509SVIDRequest request, IServerStreamWriter<X509SVIDResponse> responseStream, ServerCallContext context) =>
            server.StreamAsync(() => server._svids, responseStream, context);

        public override Task FetchX509Bundles(X509BundlesRequest request, IServerStreamWriter<X509BundlesResponse> responseStream, ServerCallContext context) =>
            server.StreamAsync(() => server._bundles, responseStream, context);

        public override Task<JWTSVIDResponse> FetchJWTSVID(JWTSVIDRequest request, ServerCallContext context) =>
            Task.FromResult(server.IssueJwt(request, context));
    }
}
