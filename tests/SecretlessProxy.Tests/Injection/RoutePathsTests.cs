using SecretlessProxy.Injection;

namespace SecretlessProxy.Tests.Injection;

public sealed class RoutePathsTests
{
    [Theory]
    // PathRemovePrefix /s3: the copy source is read through the same prefix.
    [InlineData("/s3/shared/tenant-a/stolen.csv", "/shared/tenant-a/stolen.csv", "/shared/tenant-b/payroll.csv", "/s3/shared/tenant-b/payroll.csv")]
    // No transform: the paths are the same.
    [InlineData("/reports/a.txt", "/reports/a.txt", "/reports/b.txt", "/reports/b.txt")]
    // PathPrefix /v1 added upstream: only paths under /v1 can be reached back.
    [InlineData("/api/items/1", "/v1/items/1", "/v1/items/2", "/api/items/2")]
    [InlineData("/api/items/1", "/v1/items/1", "/v2/items/2", null)]
    [InlineData("/api/items/1", "/v1/items/1", "/v1x/items/2", null)]
    // The shared tail starts at a segment boundary: "/xa/b" and "/ya/b" share "/b" only.
    [InlineData("/xa/b", "/ya/b", "/ya/c", "/xa/c")]
    [InlineData("/xa/b", "/ya/b", "/yz/c", null)]
    public void Maps_another_upstream_path_back_into_the_route(string proxyPath, string upstreamPath, string other, string? expected) =>
        Assert.Equal(expected, RoutePaths.ToProxyPath(proxyPath, upstreamPath, other));
}
