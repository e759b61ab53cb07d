using SecretlessProxy.Inventory;
using StackExchange.Redis;

namespace SecretlessProxy.Tests.Inventory;

/// <summary>The usage hash's fields as the report reads them, and the CSV form of findings.</summary>
public sealed class UsageStoreTests
{
    private const string Id = "spiffe://example.org/ns/payments/sa/api";

    [Fact]
    public void The_usage_hash_reads_back_as_a_snapshot()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);
        HashEntry[] entries =
        [
            new("since", 1_770_000_000_000),
            new($"i|{Id}|f", 1_775_000_000_000), new($"i|{Id}|l", 1_780_000_000_000), new($"i|{Id}|a", 7), new($"i|{Id}|d", 2),
            new($"r|{Id}|orders|api|a", 5), new($"r|{Id}|orders|api|l", 1_780_000_000_000),
            new($"c|{Id}|github|n", 4), new($"c|{Id}|github|l", 1_780_000_000_000),
            new("u|payments-uses-allowed", 1_780_000_000_000),
            new("s|github|fetch", 1_779_000_000_000), new("s|github|lease", ""), new("s|github|ver", "3"), new("s|github|fp", "ab12"), new("s|github|fpk", "k1"), new("s|github|store", "files"),
        ];
        var snapshot = UsageStore.Parse(entries);
        Assert.Equal(UsageSnapshot.FromRedis, snapshot.Source);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_770_000_000_000), snapshot.Since);
        Assert.Equal(7, snapshot.Identities[Id].Count);
        Assert.Equal(2, snapshot.Identities[Id].Denied);
        Assert.Equal(at, snapshot.Identities[Id].Last);
        // A route name with the separator in it survives: the identity is first, the field kind last.
        Assert.Equal(5, snapshot.Routes[(Id, "orders|api")].Count);
        Assert.Equal(4, snapshot.Credentials[(Id, "github")].Count);
        Assert.Equal(at, snapshot.LastUseOf("github"));
        Assert.Equal([Id], snapshot.ConsumersOf("GITHUB"));
        Assert.Equal(at, snapshot.RuleLastUsed["payments-uses-allowed"]);
        var facts = snapshot.Secrets["github"];
        Assert.Null(facts.LeaseId);
        Assert.Equal("3", facts.Version);
        Assert.Equal("files", facts.Store);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_779_000_000_000), facts.LastFetch);
    }

    [Fact]
    public void Mcp_tool_use_reads_back_with_separators_in_tool_and_user_names()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);
        var key = "m|keys|" + Id + "|" + UsageStore.Escape("odd|tool%7C") + "|";
        HashEntry[] entries =
        [
            new(key + "a", 3), new(key + "d", 1), new(key + "l", 1_780_000_000_000), new(key + "f", 1_779_000_000_000),
            new("mu|keys|" + Id + "|" + UsageStore.Escape("odd|tool%7C") + "|" + UsageStore.Escape("auth0|42"), 1_780_000_000_000),
        ];
        var snapshot = UsageStore.Parse(entries);
        var seen = snapshot.McpTools[("keys", Id, "odd|tool%7C")];
        Assert.Equal((3, 1, at), (seen.Count, seen.Denied, seen.Last));
        Assert.Equal(at, snapshot.McpUsers[("keys", Id, "odd|tool%7C")]["auth0|42"]);
    }

    [Fact]
    public void Csv_quotes_what_needs_it_and_defuses_formulas()
    {
        var csv = ReconcileReport.Csv([new Finding("static_secret", "=HYPERLINK(\"x\")", "a, \"quoted\" detail") { Related = ["a", "b"] }]);
        var row = csv.Split("\r\n")[1];
        Assert.Equal("static_secret,\"'=HYPERLINK(\"\"x\"\")\",,,,,,,,,,,a;b,\"a, \"\"quoted\"\" detail\"", row);
    }
}
