using System.Text.RegularExpressions;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.Refusals;

/// <summary>One table of refusals: the README says what the catalog holds, and every reason the code produces is in it.</summary>
public sealed partial class RefusalCatalogTests
{
    /// <summary>A page of the reference under docs/ (the README links to them).</summary>
    private static string Page(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SecretlessProxy.sln")))
        {
            dir = dir.Parent;
        }
        return File.ReadAllText(Path.Combine(dir!.FullName, "docs", name));
    }

    /// <summary>The (status, reason) pairs of the tables in the README section that starts with <paramref name="heading"/>.</summary>
    private static SortedSet<string> Documented(string page, string heading)
    {
        var text = Page(page);
        var start = text.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/{page} has no section '{heading}'");
        var end = text.IndexOf("\n## ", start + heading.Length + 1, StringComparison.Ordinal);
        var section = text[start..(end < 0 ? text.Length : end)];
        var pairs = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match row in Row().Matches(section))
        {
            foreach (Match reason in Code().Matches(row.Groups["reasons"].Value))
            {
                pairs.Add(row.Groups["status"].Value + " " + reason.Groups[1].Value);
            }
        }
        return pairs;
    }

    [Fact]
    public void The_readme_responses_table_is_the_catalog_of_proxy_refusals()
    {
        var catalog = new SortedSet<string>(RefusalCatalog.All.Where(r => r.Scope.HasFlag(RefusalScope.Proxy)).Select(r => $"{r.Status} {r.Reason}"), StringComparer.Ordinal);
        var documented = Documented("responses.md", "## Responses");
        Assert.True(catalog.SetEquals(documented),
            $"in the catalog only: {string.Join(", ", catalog.Except(documented))}; in the docs only: {string.Join(", ", documented.Except(catalog))}");
    }

    [Fact]
    public void The_readme_admin_table_is_the_catalog_of_admin_refusals()
    {
        var catalog = new SortedSet<string>(RefusalCatalog.All.Where(r => r.Scope.HasFlag(RefusalScope.Admin) && r.Status != 401).Select(r => $"{r.Status} {r.Reason}"), StringComparer.Ordinal);
        var documented = Documented("admin-api.md", "## Admin API");
        Assert.True(catalog.SetEquals(documented),
            $"in the catalog only: {string.Join(", ", catalog.Except(documented))}; in the docs only: {string.Join(", ", documented.Except(catalog))}");
        Assert.All(RefusalCatalog.All.Where(r => r.Status == 401), r => Assert.True(r.Scope.HasFlag(RefusalScope.Both), r.Reason));
    }

    [Fact]
    public void One_name_per_meaning_and_every_entry_is_consistent()
    {
        Assert.Equal(RefusalCatalog.All.Count, RefusalCatalog.All.Select(r => r.Reason).Distinct().Count());
        Assert.All(RefusalCatalog.All, r =>
        {
            Assert.Matches("^[a-z][a-z0-9_]*$", r.Reason);
            Assert.Contains(r.AuditOutcome, new[] { Refusal.Deny, Refusal.Error });
            // Ours or the upstream's failure is an error and a 5xx, never a 401/403 (that would blame the caller).
            if (r.Status >= 500)
            {
                Assert.Equal(Refusal.Error, r.AuditOutcome);
            }
            if (r.Status is 401 or 403)
            {
                Assert.Equal(Refusal.Deny, r.AuditOutcome);
            }
            // A proxy 503 says when to come back.
            Assert.Equal(r.Status == 503 && r.Scope.HasFlag(RefusalScope.Proxy) && !r.Scope.HasFlag(RefusalScope.Admin), r.RetryAfterSeconds is not null);
            // A database client gets an ErrorResponse with a SQLSTATE: five characters of digits and capitals.
            Assert.Equal(r.Scope.HasFlag(RefusalScope.Database), r.SqlState is not null);
            if (r.SqlState is not null)
            {
                Assert.Matches("^[0-9A-Z]{5}$", r.SqlState);
            }
        });
    }

    [Fact]
    public void The_readme_database_table_is_the_catalog_of_gateway_refusals()
    {
        var catalog = new SortedSet<string>(RefusalCatalog.All.Where(r => r.Scope.HasFlag(RefusalScope.Database)).Select(r => $"{r.SqlState} {r.Reason}"), StringComparer.Ordinal);
        var text = Page("databases.md");
        var start = text.IndexOf("\n## Database gateway", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/databases.md has no section '## Database gateway'");
        var end = text.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        var documented = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match row in SqlRow().Matches(text[start..(end < 0 ? text.Length : end)]))
        {
            foreach (Match reason in Code().Matches(row.Groups["reasons"].Value))
            {
                documented.Add(row.Groups["state"].Value + " " + reason.Groups[1].Value);
            }
        }
        Assert.True(catalog.SetEquals(documented),
            $"in the catalog only: {string.Join(", ", catalog.Except(documented))}; in the docs only: {string.Join(", ", documented.Except(catalog))}");
    }

    [GeneratedRegex(@"^\| `(?<state>[0-9A-Z]{5})` \| (?<reasons>[^|]+) \|", RegexOptions.Multiline)]
    private static partial Regex SqlRow();

    public static TheoryData<string> ProducedReasons()
    {
        // What the path guard and the SVID verifier answer for inputs that break each of their rules.
        var data = new TheoryData<string>();
        foreach (var target in new[] { "*", "/a#b", "/%2F", "/%zz", "/a b", "/%EF%BC%8E", "/a\\b", "/a;b", "//a", "/./a" })
        {
            data.Add(PathGuard.Check(target)!.Value.Reason);
        }
        data.Add(SvidVerifier.Verify(null, null, TrustBundleSet.Empty, DateTimeOffset.UtcNow).Reason!);
        data.Add(SecretlessProxy.Plugins.Aws.AmzHeaderPolicy.HeaderNotAllowed);
        data.Add(SecretlessProxy.Plugins.Aws.AmzHeaderPolicy.CopySourceInvalid);
        return data;
    }

    [Theory]
    [MemberData(nameof(ProducedReasons))]
    public void Every_reason_the_code_produces_is_in_the_catalog(string reason) => Assert.Equal(reason, RefusalCatalog.Get(reason).Reason);

    [GeneratedRegex(@"^\| (?<status>[1-5][0-9]{2}) \| (?<reasons>[^|]+) \|", RegexOptions.Multiline)]
    private static partial Regex Row();

    [GeneratedRegex("`([a-z][a-z0-9_]*)`")]
    private static partial Regex Code();
}
