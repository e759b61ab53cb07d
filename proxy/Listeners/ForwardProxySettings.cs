using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Listeners;

/// <summary>
/// A listener's <c>forwardProxy</c>: it serves absolute-form requests and CONNECT tunnels (HTTP_PROXY / HTTPS_PROXY
/// clients), intercepting TLS with leaves minted from <see cref="Ca"/>; upstreams are verified against the system
/// roots and <see cref="UpstreamRoots"/>.
/// </summary>
public sealed record ForwardProxySettings(InterceptionCa Ca, X509Certificate2Collection UpstreamRoots);
