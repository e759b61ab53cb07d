using Xunit.Abstractions;

namespace SecretlessProxy.Tests.Architecture;

/// <summary>
/// No two folders of the proxy (or of the plugin contract) use each other: each depends on the other one way only.
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
}
