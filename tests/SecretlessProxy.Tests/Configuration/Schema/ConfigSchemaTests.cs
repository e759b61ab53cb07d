using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using SecretlessProxy.Configuration;
using SecretlessProxy.Hosting;
using YamlDotNet.RepresentationModel;

namespace SecretlessProxy.Tests.Configuration.Schema;

/// <summary>
/// <c>config/secretless-proxy.schema.json</c>, the JSON Schema editors check configs with, says what the validator says:
/// the same keys at every place (probed by writing an unknown key into every mapping the schema closes and reading the
/// known keys from the validator's error), the same closed sets, and it accepts every example config.
/// </summary>
public sealed partial class ConfigSchemaTests
{
    private const string Probe = "zzzProbe";
    private const string SchemaLine = "# yaml-language-server: $schema=./secretless-proxy.schema.json";

    /// <summary>
    /// Closed objects the probes leave out, with the reason: an approver is exactly one of <c>uid</c>, <c>group</c>,
    /// <c>name</c> (the validator says so in its own words, not with a key list); a credential with <c>store:</c> and no
    /// <c>provider</c> takes its store's provider's keys, so the probes check it against that provider's branch; the
    /// schema's own branch for it lists every provider's keys (the store's type is elsewhere in the file), no list the validator has.
    /// </summary>
    private static readonly string[] Unprobed = ["#/definitions/policy/properties/approvers/items/anyOf/1", "#/definitions/credential when provider left out"];

    private static readonly string Repository = FindRepository();

    private static readonly Lazy<Task<ProbeRun>> Probes = new(RunProbesAsync);

    private static string SchemaPath => Path.Combine(Repository, "config", "secretless-proxy.schema.json");

    /// <summary>A config no example needs to be: it reaches the sections, providers and injectors the examples leave out.</summary>
    private static string ProbeFixture => Path.Combine(Repository, "tests", "SecretlessProxy.Tests", "Configuration", "Schema", "schema-probes.yaml");

    public static TheoryData<string> Examples() =>
        [.. Directory.EnumerateFiles(Path.Combine(Repository, "config"), "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_configs_validate_against_the_schema(string file)
    {
        var result = Evaluate(File.ReadAllText(Path.Combine(Repository, "config", file)));
        Assert.True(result.IsValid, $"config/{file} does not match config/secretless-proxy.schema.json:\n{Describe(result)}");
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Example_configs_name_the_schema_on_their_first_line(string file)
    {
        var first = File.ReadLines(Path.Combine(Repository, "config", file)).First();
        Assert.True(first == SchemaLine, $"config/{file} must start with the line '{SchemaLine}' (editors read the schema from it), not '{first}'");
    }

    /// <summary>Mistakes an editor should underline, which the validator refuses too.</summary>
    [Theory]
    [InlineData("an unknown top-level key", "identites: { api: { spiffeId: \"spiffe://example.org/api\" } }", "identites")]
    [InlineData("a provider that does not exist", "credentials: { gh: { provider: github-app, path: t } }", "credentials.gh.provider")]
    [InlineData("another provider's key", "credentials: { gh: { provider: file, path: t, variable: GH } }", "credentials.gh.variable")]
    [InlineData("an injector that does not exist", "credentials: { gh: { provider: env, variable: GH, inject: { type: cookie } } }", "credentials.gh.inject.type")]
    [InlineData("another injector's key", "credentials: { gh: { provider: env, variable: GH, inject: { type: query, template: x } } }", "credentials.gh.inject.template")]
    [InlineData("a listener protocol that does not exist", "listeners: [{ name: a, url: 'tcp://127.0.0.1:0', protocol: redis }]", "listeners[0].protocol")]
    [InlineData("a misspelt YARP key", "ReverseProxy: { Routes: { r: { ClusterId: c, Match: { Pth: /x } } } }", "ReverseProxy.Routes.r.Match.Pth")]
    [InlineData("a store type that does not exist", "stores: { s: { type: consul } }", "stores.s.type")]
    [InlineData("a vault sign-in method that does not exist", "credentials: { v: { provider: vault, address: 'https://v:8200', auth: { method: token }, kv: { path: p, field: f } } }", "credentials.v.auth.method")]
    public async Task The_schema_refuses_what_the_validator_refuses(string mistake, string yaml, string key)
    {
        var text = (yaml.StartsWith("listeners:", StringComparison.Ordinal) ? "" : "listeners: [{ name: admin, role: admin, url: 'http://127.0.0.1:0' }]\n") + yaml + "\n";
        Assert.False(Evaluate(text).IsValid, $"the schema accepts {mistake}: {yaml}");
        var dir = Directory.CreateTempSubdirectory("secretless-schema-").FullName;
        try
        {
            var path = Path.Combine(dir, "config.yaml");
            await File.WriteAllTextAsync(path, text);
            var compilation = await OfflineCompiler.CompileAsync(path, ProxyPlugins.CreateCatalog(), withoutRuntimeFiles: true);
            Assert.Contains(compilation.Errors, e => e.KeyPath == key);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_schema_knows_every_key_the_validator_knows()
    {
        var run = await Probes.Value;
        Assert.True(run.Problems.Count == 0,
            $"config/secretless-proxy.schema.json and the validator disagree ({run.Problems.Count}):\n" + string.Join("\n", run.Problems.Order(StringComparer.Ordinal)));
    }

    [Fact]
    public async Task Every_closed_object_of_the_schema_is_probed()
    {
        var run = await Probes.Value;
        var missing = new SchemaWalker(SchemaJson()).ClosedLocations().Where(l => !Unprobed.Contains(l) && !run.Reached.Contains(l)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0,
            "no example config and no mapping of tests/SecretlessProxy.Tests/Configuration/Schema/schema-probes.yaml reaches these objects of the schema, so nothing proves their keys; "
            + "add a mapping there that does:\n" + string.Join("\n", missing));
    }

    /// <summary>
    /// An object left open by omission would escape the probes, and a key a branch allows without a schema has no
    /// description: each object with keys says whether others are allowed, and each key allowed has its schema.
    /// </summary>
    [Fact]
    public void Every_object_says_which_keys_it_takes_and_describes_them()
    {
        var open = SchemaWalker.ObjectsWithoutAdditionalProperties(SchemaJson()).ToList();
        Assert.True(open.Count == 0,
            "config/secretless-proxy.schema.json: give these objects additionalProperties: false (the validator refuses unknown keys) or a schema for free-form entries:\n" + string.Join("\n", open));
        var bare = SchemaWalker.NamesWithoutSchema(SchemaJson()).ToList();
        Assert.True(bare.Count == 0, "config/secretless-proxy.schema.json: give these keys a schema with a description in the branch's properties:\n" + string.Join("\n", bare));
    }

    [Fact]
    public void The_closed_sets_are_the_codes()
    {
        var schema = SchemaJson();
        var catalog = ProxyPlugins.CreateCatalog();
        AssertSame("#/definitions/credential/properties/provider/enum", Strings(schema["definitions"]!["credential"]!["properties"]!["provider"]!["enum"]), catalog.Providers.Keys);
        AssertSame("#/definitions/inject/properties/type/enum", Strings(schema["definitions"]!["inject"]!["properties"]!["type"]!["enum"]), catalog.Injectors.Keys);
        AssertSame("#/definitions/store/properties/type/enum", Strings(schema["definitions"]!["store"]!["properties"]!["type"]!["enum"]), StoreSection.Types.Keys);
        var metadata = typeof(ReverseProxySection).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name.EndsWith("MetadataKey", StringComparison.Ordinal)).Select(f => (string)f.GetRawConstantValue()!)
            .Concat(McpRouteSettings.Keys).Append(McpRouteSettings.ProtocolMetadataKey).Append("Owner").Append("Team");
        AssertSame("#/definitions/routeMetadata/properties", ((JsonObject)schema["definitions"]!["routeMetadata"]!["properties"]!).Select(p => p.Key), metadata);
    }

    private static void AssertSame(string where, IEnumerable<string> schema, IEnumerable<string> code)
    {
        var inSchema = schema.ToHashSet(StringComparer.Ordinal);
        var inCode = code.ToHashSet(StringComparer.Ordinal);
        var missing = inCode.Except(inSchema).Order(StringComparer.Ordinal).ToList();
        var extra = inSchema.Except(inCode).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"config/secretless-proxy.schema.json {where}: add [{string.Join(", ", missing)}], remove [{string.Join(", ", extra)}]");
    }

    private static IEnumerable<string> Strings(JsonNode? array) => ((JsonArray)array!).Select(v => v!.GetValue<string>());

    private static JsonObject SchemaJson() => (JsonObject)JsonNode.Parse(File.ReadAllText(SchemaPath))!;

    private static EvaluationResults Evaluate(string yaml) =>
        JsonSchema.FromText(File.ReadAllText(SchemaPath)).Evaluate(YamlJson.ToJson(YamlJson.Load(yaml)), new EvaluationOptions { OutputFormat = OutputFormat.Hierarchical });

    private static string Describe(EvaluationResults result) => string.Join("\n", Failures(result).Distinct().Take(40));

    /// <summary>The errors of the subschemas that failed, descending only into failed ones: a branch whose <c>if</c> did not hold, or an <c>anyOf</c> alternative not taken, is not a problem.</summary>
    private static IEnumerable<string> Failures(EvaluationResults node)
    {
        if (node.IsValid)
        {
            yield break;
        }
        foreach (var (_, message) in node.Errors ?? new Dictionary<string, string>())
        {
            yield return $"  {node.InstanceLocation}: {message} (schema {node.EvaluationPath})";
        }
        var details = node.Details ?? [];
        // Alternatives of an anyOf of which one held.
        var satisfied = details.Where(d => d.IsValid && Alternative(d) is not null).Select(Alternative).ToHashSet(StringComparer.Ordinal);
        foreach (var failure in details.Where(d => Alternative(d) is not { } of || !satisfied.Contains(of)).SelectMany(Failures))
        {
            yield return failure;
        }
    }

    /// <summary>For a subschema at <c>…/anyOf/N</c>, the <c>…/anyOf</c> it is an alternative of.</summary>
    private static string? Alternative(EvaluationResults node)
    {
        var path = node.EvaluationPath.ToString();
        var cut = path.LastIndexOf('/');
        return cut > 0 && path[..cut].EndsWith("/anyOf", StringComparison.Ordinal) && int.TryParse(path[(cut + 1)..], out _) ? path[..cut] : null;
    }

    /// <summary>What the probes found: disagreements, and the schema objects they reached.</summary>
    private sealed record ProbeRun(List<string> Problems, HashSet<string> Reached);

    /// <summary>A closed mapping probed: where it is in the file, the schema object it resolved to, and the error paths that may report the probe.</summary>
    private sealed record Expectation(string Display, SchemaObject Object, string[] ErrorPaths);

    private static async Task<ProbeRun> RunProbesAsync()
    {
        var schema = SchemaJson();
        var walker = new SchemaWalker(schema);
        var problems = new Dictionary<string, string>(StringComparer.Ordinal);
        var reached = new HashSet<string>(StringComparer.Ordinal);
        var dir = Directory.CreateTempSubdirectory("secretless-schema-").FullName;
        try
        {
            var documents = Directory.EnumerateFiles(Path.Combine(Repository, "config"), "*.yaml").Order(StringComparer.Ordinal).Append(ProbeFixture);
            foreach (var source in documents)
            {
                var name = Path.GetRelativePath(Repository, source);
                var root = YamlJson.Load(File.ReadAllText(source));
                var expectations = new List<Expectation>();
                var probed = new List<YamlMappingNode>();
                Visit(walker, root, root, walker.Resolve(schema, "#", root), "", expectations, probed, reached);
                foreach (var mapping in probed)
                {
                    mapping.Add(Probe, "probe");
                }
                var path = Path.Combine(dir, Path.GetFileName(source));
                await using (var writer = new StreamWriter(path))
                {
                    new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
                }
                var compilation = await OfflineCompiler.CompileAsync(path, ProxyPlugins.CreateCatalog(), withoutRuntimeFiles: true);
                foreach (var expectation in expectations)
                {
                    Compare(name, expectation, compilation.Errors, problems);
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        return new ProbeRun([.. problems.Values], reached);
    }

    private static void Visit(SchemaWalker walker, YamlMappingNode root, YamlNode node, SchemaNode? schema, string display,
        List<Expectation> expectations, List<YamlMappingNode> probed, HashSet<string> reached)
    {
        if (schema is null)
        {
            return;
        }
        switch (node)
        {
            case YamlMappingNode mapping:
                var found = SchemaWalker.Object(schema, mapping, (m, key) => Discriminator(root, m, key));
                reached.Add(found.Id);
                if (found.Closed && !Unprobed.Contains(found.Node.Pointer) && !Unprobed.Contains(found.Id))
                {
                    expectations.Add(new Expectation(display, found, ErrorPaths(root, display)));
                    probed.Add(mapping);
                }
                foreach (var (key, value) in mapping.Children)
                {
                    var name = YamlJson.Key(key);
                    Visit(walker, root, value, walker.Child(found, name, value), display.Length == 0 ? name : $"{display}.{name}", expectations, probed, reached);
                }
                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Visit(walker, root, sequence.Children[i], walker.Items(schema, sequence.Children[i]), $"{display}[{i}]", expectations, probed, reached);
                }
                break;
        }
    }

    /// <summary>A mapping's scalar value for a branch's key; a credential with <c>store:</c> has the provider of the store's type.</summary>
    private static string? Discriminator(YamlMappingNode root, YamlMappingNode mapping, string key)
    {
        var own = Scalar(mapping, key);
        if (own is not null || key != "provider" || Scalar(mapping, "store") is not { } store)
        {
            return own;
        }
        return Mapping(Mapping(root, "stores"), store) is { } entry && Scalar(entry, "type") is { } type && StoreSection.Types.TryGetValue(type, out var found) ? found.Provider : null;
    }

    /// <summary>
    /// Where the validator reports an unknown key of the mapping at <paramref name="display"/>: there, or for a mapping inside a
    /// store (stores.NAME.auth), on each credential the store is expanded into.
    /// </summary>
    private static string[] ErrorPaths(YamlMappingNode root, string display)
    {
        var own = display.Length == 0 ? Probe : $"{display}.{Probe}";
        var inStore = StoreNested().Match(display);
        if (!inStore.Success)
        {
            return [own];
        }
        var users = Mapping(root, "credentials")?.Children.Where(c => c.Value is YamlMappingNode m && Scalar(m, "store") == inStore.Groups[1].Value).Select(c => YamlJson.Key(c.Key)) ?? [];
        return [own, .. users.Select(c => $"credentials.{c}.{inStore.Groups[2].Value}.{Probe}")];
    }

    /// <summary>Adds to <paramref name="problems"/> (one per place and key, naming the first document that showed it) where the probe's error and the schema disagree.</summary>
    private static void Compare(string document, Expectation expectation, IReadOnlyList<ConfigError> errors, Dictionary<string, string> problems)
    {
        var at = $"{document}: {(expectation.Display.Length == 0 ? "(top level)" : expectation.Display)}";
        void Add(string problem) => problems.TryAdd($"{expectation.Object.Id}: {problem}", $"{expectation.Object.Id} (first met at {at}): {problem}");
        if (expectation.Object.Unmatched)
        {
            Add($"no if/then branch of {expectation.Object.Node.Pointer}/allOf matches this mapping: add one for its provider or type, with its keys in then.propertyNames.enum");
            return;
        }
        var error = errors.FirstOrDefault(e => expectation.ErrorPaths.Contains(e.KeyPath, StringComparer.Ordinal));
        if (error is null)
        {
            Add($"the schema refuses unknown keys here (additionalProperties: false), but the validator gave no error for '{Probe}': "
                + "drop additionalProperties: false there, or add the object to ConfigSchemaTests.Unprobed with the reason");
            return;
        }
        if (KnownKeys(error.Fix) is not { } known)
        {
            Add($"cannot read the known keys from the validator's fix '{error.Fix}': teach ConfigSchemaTests.KnownKeys its wording");
            return;
        }
        foreach (var key in known.Except(expectation.Object.Keys).Order(StringComparer.Ordinal))
        {
            Add($"the validator knows '{key}' but the schema does not: add \"{key}\" (with a description from the README) to {expectation.Object.Where}");
        }
        foreach (var key in expectation.Object.Keys.Except(known).Order(StringComparer.Ordinal))
        {
            Add($"the schema has '{key}', which the validator refuses: remove it from {expectation.Object.Where}");
        }
    }

    /// <summary>The keys a validator's fix lists: <c>(known keys: a, b)</c>, <c>the keys of 'auth' are: a, b</c> or <c>use one of a, b</c>.</summary>
    private static HashSet<string>? KnownKeys(string fix)
    {
        var match = KnownList().Match(fix);
        if (!match.Success)
        {
            match = KeysOf().Match(fix);
        }
        if (!match.Success)
        {
            match = UseOneOf().Match(fix);
        }
        return match.Success ? match.Groups[1].Value.Split(", ").ToHashSet(StringComparer.Ordinal) : null;
    }

    private static YamlMappingNode? Mapping(YamlMappingNode? mapping, string key) =>
        mapping is not null && mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value as YamlMappingNode : null;

    private static string? Scalar(YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode { Value: { Length: > 0 } text } ? text : null;

    private static string FindRepository()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SecretlessProxy.sln")))
        {
            dir = dir.Parent;
        }
        return dir!.FullName;
    }

    [GeneratedRegex(@"\(known [^:()]+: ([^()]*)\)")]
    private static partial Regex KnownList();

    [GeneratedRegex("the keys of '[^']*' are: (.+)$")]
    private static partial Regex KeysOf();

    [GeneratedRegex("^use one of (.+)$")]
    private static partial Regex UseOneOf();

    [GeneratedRegex(@"^stores\.([^.]+)\.(.+)$")]
    private static partial Regex StoreNested();
}
