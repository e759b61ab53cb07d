using System.Collections.Frozen;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Policy;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Tests.Configuration;

/// <summary>A request's stages read one config: the one YARP's matched route came from.</summary>
public sealed class ConfigSnapshotTests
{
    private static RouteConfig Route(string id, string path) => new() { RouteId = id, ClusterId = "c", Match = new RouteMatch { Path = path } };

    private static ClusterConfig Cluster(string address) => new()
    {
        ClusterId = "c",
        Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = address } },
    };

    private static ProxyConfig Config(IReadOnlyList<RouteConfig> routes, ClusterConfig cluster) => new()
    {
        FilePath = "config.yaml",
        Listeners = [],
        Policy = new PolicyModel([]),
        Credentials = FrozenDictionary<string, CredentialBinding>.Empty,
        RouteCredentials = FrozenDictionary<string, CredentialBinding>.Empty,
        Routes = routes,
        Clusters = [cluster],
        DecisionLog = DecisionLogSettings.Default,
        WatchedFiles = [],
        Warnings = [],
    };

    [Fact]
    public void A_config_produced_the_routes_and_clusters_it_holds_and_no_others()
    {
        var first = Config([Route("a", "/a/{**rest}"), Route("b", "/b/{**rest}")], Cluster("http://127.0.0.1:1/"));
        Assert.True(first.Produced(first.Routes[0], first.Clusters[0]));
        // An equal copy (what another compile of the same file gives) is not the object YARP holds.
        Assert.False(first.Produced(Route("a", "/a/{**rest}"), first.Clusters[0]));
        Assert.False(first.Produced(first.Routes[0], Cluster("http://127.0.0.1:1/")));
    }

    [Fact]
    public void A_reload_keeps_unchanged_routes_as_the_same_objects_and_changed_ones_as_new()
    {
        var first = Config([Route("a", "/a/{**rest}"), Route("b", "/b/{**rest}")], Cluster("http://127.0.0.1:1/"));
        var second = Config([Route("a", "/a/{**rest}"), Route("b", "/b2/{**rest}")], Cluster("http://127.0.0.1:1/"));
        second.InternFrom(first);
        Assert.Same(first.Routes[0], second.Routes[0]);
        Assert.NotSame(first.Routes[1], second.Routes[1]);
        Assert.Same(first.Clusters[0], second.Clusters[0]);
        // YARP kept its model of route a (unchanged): both configs produced it. Route b changed: only the new one did.
        Assert.True(second.Produced(first.Routes[0], first.Clusters[0]));
        Assert.False(second.Produced(first.Routes[1], first.Clusters[0]));
        Assert.False(first.Produced(second.Routes[1], second.Clusters[0]));
    }
}
