using Xunit.Abstractions;

namespace SecretlessProxy.Tests.Architecture;

/// <summary>
/// No two folders of the proxy use each other, and no longer cycle exists either: the folders form layers.
/// Run <c>dotnet test tests/SecretlessProxy.Tests --filter FolderDependencyTests --logger "console;verbosity=detailed"</c>
/// to print the graph.
/// </summary>
public sealed class FolderDependencyTests(ITestOutputHelper output)
{
    [Fact]
    public void No_two_folders_of_the_proxy_use_each_other()
    {
        var graph = FolderDependencies.Of(typeof(SecretlessProxy.Hosting.ProxyHost).Assembly, "SecretlessProxy");
        foreach (var (folder, uses) in graph)
        {
            output.WriteLine($"{folder} -> {string.Join(", ", uses)}");
        }
        var cycles = FolderDependencies.Cycles(graph);
        Assert.True(cycles.Count == 0, "folders that use each other:\n" + string.Join("\n", cycles));
    }

    [Fact]
    public void The_folders_of_the_proxy_form_layers_with_no_cycle_of_any_length()
    {
        var graph = FolderDependencies.Of(typeof(SecretlessProxy.Hosting.ProxyHost).Assembly, "SecretlessProxy");
        Assert.Null(FolderDependencies.AnyCycle(graph));
    }

    [Fact]
    public void Postgres_authentication_uses_nothing_else_of_the_proxy()
    {
        var assembly = typeof(SecretlessProxy.Hosting.ProxyHost).Assembly;
        Assert.Contains(assembly.GetTypes(), t => t.Namespace == "SecretlessProxy.Postgres.Auth");
        Assert.Empty(FolderDependencies.NamespacesUsedBy(assembly, "SecretlessProxy.Postgres.Auth", "SecretlessProxy"));
        // The check sees uses: the Hosting folder does use others.
        Assert.NotEmpty(FolderDependencies.NamespacesUsedBy(assembly, "SecretlessProxy.Hosting", "SecretlessProxy"));
    }

    [Fact]
    public void The_checker_finds_pairs_and_longer_cycles()
    {
        static SortedDictionary<string, SortedSet<string>> Graph(params (string From, string To)[] edges)
        {
            var graph = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            foreach (var (from, to) in edges)
            {
                (graph.TryGetValue(from, out var set) ? set : graph[from] = new SortedSet<string>(StringComparer.Ordinal)).Add(to);
            }
            return graph;
        }
        Assert.Equal(["A <-> B"], FolderDependencies.Cycles(Graph(("A", "B"), ("B", "A"), ("B", "C"))));
        Assert.Empty(FolderDependencies.Cycles(Graph(("A", "B"), ("B", "C"), ("C", "A"))));
        Assert.Equal("A -> B -> C -> A", FolderDependencies.AnyCycle(Graph(("A", "B"), ("B", "C"), ("C", "A"))));
        Assert.Null(FolderDependencies.AnyCycle(Graph(("A", "B"), ("B", "C"), ("A", "C"))));
        // And on a real assembly it sees what the IL uses: this test project uses the proxy's Policy folder.
        Assert.Contains("Policy", FolderDependencies.Of(typeof(FolderDependencyTests).Assembly, "SecretlessProxy")["Tests"]);
    }
}
