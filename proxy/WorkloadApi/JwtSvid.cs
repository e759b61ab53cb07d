using SecretlessProxy.Abstractions;
using SecretlessProxy.Identity;

namespace SecretlessProxy.WorkloadApi;

/// <summary>A JWT-SVID the agent issued to the proxy: its SPIFFE ID, the token (a secret: it authenticates as the proxy) and its expiry.</summary>
public sealed record JwtSvid(SpiffeId SpiffeId, SecretValue Token, DateTimeOffset ExpiresAt);
