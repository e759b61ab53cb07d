using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The config schema as editors use it: the YAML language server of VS Code's YAML extension (yaml-language-server from
/// npm, pinned by tests/SecretlessProxy.IntegrationTests/yaml/package-lock.json) reads each file's
/// <c># yaml-language-server: $schema=…</c> line, finds the example configs clean, underlines mistakes, completes a
/// provider's keys and shows their descriptions.
/// </summary>
public sealed class EditorSchemaTests : IDisposable
{
    private const string Folder = "yaml";
    private const string SchemaLine = "# yaml-language-server: $schema=./secretless-proxy.schema.json";

    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-editor-").FullName;

    public EditorSchemaTests()
    {
        NodeProcess.RequirePackage(Folder, "yaml-language-server");
        File.Copy(Path.Combine(Repository, "config", "secretless-proxy.schema.json"), Path.Combine(_dir, "secretless-proxy.schema.json"));
    }

    private static string Repository => Path.GetFullPath(Path.Combine(NodeProcess.Folder(Folder), "..", "..", ".."));

    [Fact]
    public async Task The_example_configs_have_no_problem_in_the_editor()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Repository, "config"), "*.yaml").Order(StringComparer.Ordinal).ToArray();
        var result = await NodeProcess.RunClientAsync(Folder, "the YAML language server", "check.mjs", ["validate", .. files]);
        foreach (var file in files)
        {
            var problems = result.GetProperty(file).EnumerateArray().Select(p => $"line {p.GetProperty("line").GetInt32() + 1}: {p.GetProperty("message").GetString()}").ToList();
            Assert.True(problems.Count == 0, $"the editor underlines config/{Path.GetFileName(file)}:\n{string.Join("\n", problems)}");
        }
        // The schema was applied (from the file's first line): hovering a key shows its description.
        var hover = await NodeProcess.RunClientAsync(Folder, "the YAML language server", "check.mjs", "hover", files.Single(f => Path.GetFileName(f) == "gateway.yaml"), "22", "3");
        Assert.Contains("at least one proxy listener", hover.GetProperty("text").GetString());
    }

    [Fact]
    public async Task The_editor_underlines_unknown_keys_and_values()
    {
        var file = Write("mistakes.yaml", """
            listeners:
              - { name: admin, role: admin, url: "http://127.0.0.1:0" }
            credentials:
              gh: { provider: file, path: token.txt, variable: GH_TOKEN }
              vault: { provider: vaultt, address: "https://vault:8200" }
              maps: { provider: env, variable: MAPS_KEY, inject: { type: query, template: x } }
            identites: {}
            """);
        var result = await NodeProcess.RunClientAsync(Folder, "the YAML language server", "check.mjs", "validate", file);
        var lines = result.GetProperty(file).EnumerateArray().Select(p => (Line: p.GetProperty("line").GetInt32() + 1, Message: p.GetProperty("message").GetString()!)).ToList();
        // Line 1 is the schema line: another provider's key, an unknown provider, another injector's key, an unknown top-level key.
        Assert.Contains(lines, p => p.Line == 5 && p.Message.Contains("\"path\"", StringComparison.Ordinal));
        Assert.Contains(lines, p => p.Line == 6 && p.Message.Contains("\"vault\"", StringComparison.Ordinal));
        Assert.Contains(lines, p => p.Line == 7 && p.Message.Contains("\"name\"", StringComparison.Ordinal));
        Assert.Contains(lines, p => p.Line == 8 && p.Message.Contains("identites", StringComparison.Ordinal));
        Assert.Equal(4, lines.Count);
    }

    [Fact]
    public async Task The_editor_completes_the_keys_of_the_provider_chosen_and_describes_them()
    {
        // The cursor on the indented empty line 5 (counted from 0) under the credential, where the next key goes.
        var file = Write("completion.yaml", "credentials:\n  billing:\n    provider: vault\n    address: \"https://vault:8200\"\n    ");
        var completion = await NodeProcess.RunClientAsync(Folder, "the YAML language server", "check.mjs", "complete", file, "5", "4");
        var labels = completion.GetProperty("labels").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Subset(new HashSet<string>(labels), new HashSet<string> { "auth", "kv", "dynamic", "namespace", "caFile", "inject", "maxTtl" });
        Assert.DoesNotContain("variable", labels);
        Assert.DoesNotContain("tokenUrl", labels);
        var hover = await NodeProcess.RunClientAsync(Folder, "the YAML language server", "check.mjs", "hover", file, "4", "6");
        Assert.Contains("base URL", hover.GetProperty("text").GetString());
    }

    /// <summary>A config beside the schema copy, starting with the schema line as the examples do.</summary>
    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, SchemaLine + "\n" + yaml + "\n");
        return path;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
