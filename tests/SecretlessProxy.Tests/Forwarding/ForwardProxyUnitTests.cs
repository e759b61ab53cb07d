using System.Text;
using SecretlessProxy.Forwarding;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Tests.Forwarding;

public sealed class ForwardProxyUnitTests
{
    [Theory]
    [InlineData("CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443", "api.example.test", 443)]
    [InlineData("CONNECT API.Example.Test:8443 HTTP/1.0", "api.example.test", 8443)]
    [InlineData("CONNECT 10.0.0.1:443 HTTP/1.1", "10.0.0.1", 443)]
    [InlineData("CONNECT [::1]:443 HTTP/1.1", "::1", 443)]
    public void A_connect_head_names_host_and_port(string head, string host, int port)
    {
        Assert.Null(ConnectTunnel.Parse(Encoding.ASCII.GetBytes(head), out var parsedHost, out var parsedPort, out _));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("CONNECT api.example.test HTTP/1.1", "port is required")]
    [InlineData("CONNECT api.example.test:0 HTTP/1.1", "1 to 65535")]
    [InlineData("CONNECT api.example.test:99999 HTTP/1.1", "1 to 65535")]
    [InlineData("CONNECT api.example.test:+443 HTTP/1.1", "1 to 65535")]
    [InlineData("CONNECT api.example.test:443 HTTP/2", "is not 'CONNECT host:port HTTP/1.1'")]
    [InlineData("CONNECT  api.example.test:443 HTTP/1.1", "is not 'CONNECT host:port HTTP/1.1'")]
    [InlineData("CONNECT a/b:443 HTTP/1.1", "not a DNS name")]
    [InlineData("CONNECT [nothex]:443 HTTP/1.1", "not an IPv6 address")]
    [InlineData("CONNECT api.example.test:443 HTTP/1.1\r\nno colon here", "is not 'Name: value'")]
    [InlineData("CONNECT api.example.test:443 HTTP/1.1\r\nX: \u0001", "not HTTP")]
    public void A_malformed_connect_head_is_named(string head, string expected)
    {
        var problem = ConnectTunnel.Parse(Encoding.Latin1.GetBytes(head), out _, out _, out _);
        Assert.NotNull(problem);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api.example.test", "api.example.test", 443, true)]
    [InlineData("API.example.test", "api.example.test", 443, true)]
    [InlineData("api.example.test", "api.example.test", 22, false)]
    [InlineData("api.example.test:8443", "api.example.test", 8443, true)]
    [InlineData("api.example.test:8443", "api.example.test", 443, false)]
    [InlineData("*.example.test", "s3.example.test", 443, true)]
    [InlineData("*.example.test", "example.test", 443, false)]
    [InlineData("*.example.test", "evil-example.test", 443, false)]
    [InlineData("[::1]:8443", "::1", 8443, true)]
    public void Hosts_entries_name_hosts_and_ports(string entry, string host, int port, bool named) =>
        Assert.Equal(named, ForwardHosts.Names([entry], host, port, 443));

    [Theory]
    [InlineData("http://api.example.test/orders?x=1", null)]
    [InlineData("http://api.example.test", null)]
    [InlineData("http://api.example.test?x=1", null)]
    [InlineData("http://api.example.test:8080/a/b", null)]
    [InlineData("http://api.example.test/a/../b", "path_dot_segment")]
    [InlineData("http://api.example.test/a%2Fb", "path_ambiguous_encoding")]
    [InlineData("http://user@api.example.test/a", "request_target_not_origin_form")]
    [InlineData("https://api.example.test/a", "request_target_not_origin_form")]
    [InlineData("/a", "request_target_not_origin_form")]
    public void The_path_guard_accepts_absolute_form_http_targets_only_through_its_forward_proxy_check(string target, string? reason)
    {
        Assert.Equal(reason, PathGuard.CheckAbsoluteHttp(target)?.Reason);
        // The origin-form check (every other listener, and requests inside a tunnel) still refuses them all.
        if (target.StartsWith("http", StringComparison.Ordinal))
        {
            Assert.NotNull(PathGuard.Check(target));
        }
    }

    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.8.9.10", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("169.254.169.254", "instance metadata")]
    [InlineData("fd00:ec2::254", "instance metadata")]
    [InlineData("::ffff:169.254.169.254", "instance metadata")]
    [InlineData("169.254.10.1", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("10.1.2.3", null)]
    [InlineData("93.184.216.34", null)]
    [InlineData("2001:db8::1", null)]
    public void Sensitive_addresses_are_named_by_kind(string address, string? kind) =>
        Assert.Equal(kind, SensitiveAddresses.Kind(System.Net.IPAddress.Parse(address)));

    [Fact]
    public void A_passthrough_route_naming_the_host_exactly_wins_over_a_wildcard_and_intercepting_routes_are_not_passthrough()
    {
        var wildcard = new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = "any", Match = new() { Hosts = ["*.example.com"] }, Metadata = new Dictionary<string, string> { ["Forward"] = "passthrough" } };
        var exact = new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = "git", Match = new() { Hosts = ["git.example.com"] }, Metadata = new Dictionary<string, string> { ["Forward"] = "PassThrough" } };
        var intercept = new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = "api", ClusterId = "c", Match = new() { Hosts = ["api.other.com"] } };
        Assert.Same(exact, ForwardHosts.PassthroughRoute([wildcard, exact, intercept], "git.example.com", 443));
        Assert.Same(wildcard, ForwardHosts.PassthroughRoute([wildcard, exact, intercept], "raw.example.com", 443));
        Assert.Null(ForwardHosts.PassthroughRoute([wildcard, exact, intercept], "api.other.com", 443));
        Assert.Null(ForwardHosts.PassthroughRoute([wildcard, exact], "git.example.com", 8443));
        Assert.False(ForwardHosts.AnyRouteNames([wildcard, exact], "git.example.com", 443, 443));
        Assert.True(ForwardHosts.AnyRouteNames([intercept], "api.other.com", 443, 443));
        Assert.True(ForwardHosts.NamesAddress(new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = "ip", Match = new() { Hosts = ["10.0.0.5:443"] } }, System.Net.IPAddress.Parse("10.0.0.5")));
        Assert.False(ForwardHosts.NamesAddress(exact, System.Net.IPAddress.Loopback));
    }
}
