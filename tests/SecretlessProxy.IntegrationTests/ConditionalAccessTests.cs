using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;
using SecretlessProxy.Testing;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Context facts from a watched posture file and an external decision hook (OPA data API), end to end through the proxy.</summary>
public sealed class ConditionalAccessTests : IDisposable
{
    private readonly TestPki _pki = new();

    private string PosturePath => Path.Combine(_pki.Directory, "posture.json");

    private async Task WritePostureAsync(string posture)
    {
        var temp = PosturePath + ".tmp";
        await File.WriteAllTextAsync(temp, $$"""{ "{{TestPki.PaymentsId}}": { "posture": "{{posture}}", "env": "prod" } }""");
        File.Move(temp, PosturePath, overwrite: true);
    }

    private static string Config(Uri upstream, Uri opa) => ProxyUnderTest.DefaultConfig(upstream,
        extraPolicies:
            "  - name: compliant-payments\n    allow: [payments]\n    routes: [gated]\n    when: { facts: { posture: compliant }, request: { listener: mtls, sourceAddress: [127.0.0.0/8] } }",
        extraRoutes: "    gated: { ClusterId: upstream, Match: { Path: \"/gated/{**rest}\" }, Metadata: { Credential: github } }")
        + $"\nposture: {{ file: posture.json, pollInterval: 100ms, maxAge: 3s }}\ndecisionHook: {{ url: \"{opa}\", path: secretless/allow, routes: [gated], timeout: 1s, cacheTtl: 0s }}\n";

    private static async Task<(HttpStatusCode Status, JsonElement Body)> CallAsync(HttpClient client, ProxyUnderTest proxy, HttpMethod method, string path)
    {
        using var response = await client.SendAsync(new HttpRequestMessage(method, new Uri(proxy.ProxyUri, path)));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    [Fact]
    public async Task Posture_facts_and_the_decision_hook_decide_and_unknown_or_unavailable_never_allow()
    {
        var opa = await OpaServer.StartAsync("secretless/allow", input =>
            input.GetProperty("method").GetString() == "DELETE" ? (false, "deletes need a change ticket")
            : input.GetProperty("facts").ValueKind == JsonValueKind.Object && input.GetProperty("facts").GetProperty("env").GetString() == "prod" ? (true, "prod caller") : (false, "not prod"));
        await using var opaLifetime = opa;
        await WritePostureAsync("compliant");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, upstream => Config(upstream, opa.Address));
        using var client = proxy.Client();

        // Compliant and known: the policy allows, the hook allows, the upstream is called.
        await Eventually.Until(async () => (await CallAsync(client, proxy, HttpMethod.Get, "/gated/x")).Status == HttpStatusCode.OK, "the compliant caller reaches the gated route");
        var input = JsonDocument.Parse(opa.Inputs.Last()).RootElement.GetProperty("input");
        Assert.Equal(TestPki.PaymentsId, input.GetProperty("identity").GetString());
        Assert.Equal("x509-svid", input.GetProperty("attestation").GetProperty("kind").GetString());
        Assert.Equal("gated", input.GetProperty("route").GetString());
        Assert.Equal("GET", input.GetProperty("method").GetString());
        Assert.Equal("/gated/x", input.GetProperty("path").GetString());
        Assert.Equal("mtls", input.GetProperty("listener").GetString());
        Assert.Equal("compliant", input.GetProperty("facts").GetProperty("posture").GetString());
        var allowed = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "gated" && r.GetProperty("status").GetInt32() == 200);
        Assert.Equal("allow", allowed.GetProperty("hook").GetProperty("outcome").GetString());
        Assert.Equal("prod caller", allowed.GetProperty("hook").GetProperty("reason").GetString());
        Assert.Equal("fresh", allowed.GetProperty("contextFacts").GetString());

        // The hook says no: 403 with its reason in the body and the record; the upstream is not called.
        var upstreamCalls = proxy.Upstream.Requests.Count;
        var (status, body) = await CallAsync(client, proxy, HttpMethod.Delete, "/gated/x");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("decision_hook_denied", body.GetProperty("reason").GetString());
        Assert.Equal("deletes need a change ticket", body.GetProperty("hookReason").GetString());
        Assert.Equal("compliant-payments", body.GetProperty("rule").GetString());
        var denied = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("reason").GetString() == "decision_hook_denied");
        Assert.Equal("deletes need a change ticket", denied.GetProperty("hook").GetProperty("reason").GetString());
        Assert.Equal(upstreamCalls, proxy.Upstream.Requests.Count);

        // A route the hook does not cover is never sent to it.
        var asked = opa.Inputs.Count;
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(client, proxy, HttpMethod.Get, "/allowed/x")).Status);
        Assert.Equal(asked, opa.Inputs.Count);

        // No secret reaches the hook.
        Assert.All(opa.Inputs, i => Assert.DoesNotContain(ProxyUnderTest.Canary, i, StringComparison.Ordinal));

        // Noncompliant: the policy denies before the hook is asked.
        await WritePostureAsync("noncompliant");
        await Eventually.Until(async () => (await CallAsync(client, proxy, HttpMethod.Get, "/gated/x")).Body is { ValueKind: JsonValueKind.Object } b
            && b.TryGetProperty("reason", out var r) && r.GetString() == "no_rule_matched", "the noncompliant caller is refused by policy");

        // Hook down: fail closed, with a clear refusal.
        await WritePostureAsync("compliant");
        await Eventually.Until(async () => (await CallAsync(client, proxy, HttpMethod.Get, "/gated/x")).Status == HttpStatusCode.OK, "the caller is compliant again");
        await opa.DisposeAsync();
        (status, body) = await CallAsync(client, proxy, HttpMethod.Get, "/gated/x");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("decision_hook_unavailable", body.GetProperty("reason").GetString());
        Assert.Contains("decision hook could not decide", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Stale facts: once the file has not been rewritten for maxAge, the facts are unknown, and unknown never allows.
        await Eventually.Until(async () => (await CallAsync(client, proxy, HttpMethod.Get, "/gated/x")).Body is { ValueKind: JsonValueKind.Object } b
            && b.TryGetProperty("reason", out var r) && r.GetString() == "context_facts_unknown", "the stale facts count as unknown");
        var stale = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("reason").GetString() == "context_facts_unknown");
        Assert.Equal("unknown", stale.GetProperty("contextFacts").GetString());
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Decisions.Text, StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
