using System.Collections.Frozen;
using SecretlessProxy.Credentials;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Grants;

/// <summary>What grants are checked against and applied to: the config in force (its routes, credentials, grant settings and cache).</summary>
public interface IGrantScope
{
    IReadOnlyList<RouteConfig> Routes { get; }

    FrozenDictionary<string, CredentialBinding> Credentials { get; }

    /// <summary>Route id → the credential injected on it.</summary>
    FrozenDictionary<string, CredentialBinding> RouteCredentials { get; }

    GrantSettings Grants { get; }

    CacheSettings Cache { get; }
}
