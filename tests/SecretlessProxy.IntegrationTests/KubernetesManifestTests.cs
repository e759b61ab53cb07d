using SecretlessProxy.Cli;
using YamlDotNet.RepresentationModel;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Every manifest under <c>docker/kubernetes</c>, parsed (all documents of each file) and held to the proxy config
/// it embeds: the config validates offline, the container's <c>--config</c> is the mounted ConfigMap file, every
/// container port is a listener's, listeners bound beyond loopback have a container port, probes call
/// <c>/healthz</c> and <c>/readyz</c> on the admin listener (HTTPS when it is mTLS), every file the config names is
/// under a mounted volume, Services target declared ports and PodDisruptionBudgets select a Deployment's pods.
/// </summary>
public sealed class KubernetesManifestTests : IDisposable
{
    private static readonly string Folder = Path.Combine(SidecarBuildTests.Published.Repository, "docker", "kubernetes");
    private readonly string _dir = Directory.CreateTempSubdirectory("k8s-manifests-").FullName;

    public static TheoryData<string> Manifests() => [.. Directory.EnumerateFiles(Folder, "*.yaml").Select(f => Path.GetFileName(f)!).Order()];

    [Fact]
    public void The_gateway_and_the_sidecar_manifests_are_there() =>
        Assert.Equal(["gateway.yaml", "sidecar.yaml"], Directory.EnumerateFiles(Folder, "*.yaml").Select(Path.GetFileName).Order());

    [Theory]
    [MemberData(nameof(Manifests))]
    public async Task Each_manifest_agrees_with_the_config_it_embeds(string name)
    {
        var documents = Load(Path.Combine(Folder, name));
        var configMaps = documents.Where(d => Kind(d) == "ConfigMap").ToDictionary(d => Text(d, "metadata", "name"));
        var deployments = documents.Where(d => Kind(d) == "Deployment").ToList();
        Assert.NotEmpty(deployments);
        foreach (var deployment in deployments)
        {
            var pod = Map(deployment, "spec", "template", "spec");
            var volumes = Seq(pod, "volumes").Cast<YamlMappingNode>().ToDictionary(v => Text(v, "name"));
            var proxy = Seq(pod, "containers").Cast<YamlMappingNode>().Single(c => Text(c, "image").StartsWith("secretless-proxy", StringComparison.Ordinal));
            var args = Seq(proxy, "args").Select(a => ((YamlScalarNode)a).Value!).ToList();
            var configPath = args[args.IndexOf("--config") + 1];
            Assert.Equal("run", args[0]);

            // The --config file is a key of a ConfigMap mounted at its folder.
            var mounts = Seq(proxy, "volumeMounts").Cast<YamlMappingNode>().ToList();
            var configMount = mounts.Single(m => Text(m, "mountPath") == Path.GetDirectoryName(configPath));
            var configMapName = Text(volumes[Text(configMount, "name")], "configMap", "name");
            var configText = Text(configMaps[configMapName], "data", Path.GetFileName(configPath));
            var config = LoadOne(configText);

            // The embedded config is accepted as `validate --offline` accepts a config repository's file.
            var file = Path.Combine(_dir, name);
            await File.WriteAllTextAsync(file, configText);
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            Assert.True(await CliApp.RunAsync(["validate", "--offline", "--config", file], stdout, stderr) == 0, stderr.ToString());
            Assert.Contains("valid offline", stdout.ToString(), StringComparison.Ordinal);

            var listeners = Seq(config, "listeners").Cast<YamlMappingNode>().Select(l => new Uri(Text(l, "url"))).ToList();
            var ports = Seq(proxy, "ports", optional: true).Cast<YamlMappingNode>()
                .ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "containerPort"), System.Globalization.CultureInfo.InvariantCulture));
            Assert.All(ports.Values, p => Assert.Contains(p, listeners.Select(l => l.Port)));
            Assert.All(listeners.Where(l => !l.IsLoopback), l => Assert.Contains(l.Port, ports.Values));

            var admin = new Uri(Text(Seq(config, "listeners").Cast<YamlMappingNode>().Single(l => l.Children.TryGetValue("role", out var r) && r.ToString() == "admin"), "url"));
            foreach (var (probe, path) in new[] { ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz") })
            {
                var get = Map(proxy, probe, "httpGet");
                Assert.Equal(path, Text(get, "path"));
                var port = Text(get, "port");
                Assert.Equal(admin.Port, ports.TryGetValue(port, out var named) ? named : int.Parse(port, System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(admin.Scheme == "https" ? "HTTPS" : "HTTP", get.Children.TryGetValue("scheme", out var scheme) ? scheme.ToString() : "HTTP");
            }

            // Every absolute file the config names (certificates, bundles, secret folders, Redis files) is mounted.
            var mountPaths = mounts.Select(m => Text(m, "mountPath")).ToList();
            Assert.All(Scalars(config).Where(v => v.StartsWith('/') && !v.StartsWith("/github", StringComparison.Ordinal)),
                v => Assert.Contains(mountPaths, m => v == m || v.StartsWith(m + "/", StringComparison.Ordinal)));

            var labels = Map(deployment, "spec", "template", "metadata", "labels");
            foreach (var service in documents.Where(d => Kind(d) == "Service"))
            {
                Assert.All(Map(service, "spec", "selector").Children, s => Assert.Equal(s.Value.ToString(), labels[s.Key].ToString()));
                Assert.All(Seq(Map(service, "spec"), "ports").Cast<YamlMappingNode>(), p => Assert.Contains(Text(p, "targetPort"), ports.Keys));
            }
            foreach (var budget in documents.Where(d => Kind(d) == "PodDisruptionBudget"))
            {
                Assert.All(Map(budget, "spec", "selector", "matchLabels").Children, s => Assert.Equal(s.Value.ToString(), labels[s.Key].ToString()));
                Assert.True(int.Parse(Text(deployment, "spec", "replicas"), System.Globalization.CultureInfo.InvariantCulture) > int.Parse(Text(budget, "spec", "minAvailable"), System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    [Fact]
    public void The_gateway_shares_redis_with_its_password_and_key_from_secrets()
    {
        var documents = Load(Path.Combine(Folder, "gateway.yaml"));
        var config = LoadOne(Text(documents.Single(d => Kind(d) == "ConfigMap"), "data", "config.yaml"));
        var redis = Map(config, "cache", "redis");
        var pod = Map(documents.Single(d => Kind(d) == "Deployment"), "spec", "template", "spec");
        Assert.Equal("2", Text(documents.Single(d => Kind(d) == "Deployment"), "spec", "replicas"));
        var container = (YamlMappingNode)Seq(pod, "containers")[0];
        var volumes = Seq(pod, "volumes").Cast<YamlMappingNode>().ToDictionary(v => Text(v, "name"));
        foreach (var key in new[] { "passwordFile", "encryptionKey" })
        {
            var path = Text(redis, key);
            var mount = Seq(container, "volumeMounts").Cast<YamlMappingNode>().Single(m => path.StartsWith(Text(m, "mountPath") + "/", StringComparison.Ordinal));
            Assert.True(volumes[Text(mount, "name")].Children.ContainsKey("secret"), key + " is not from a Secret");
        }
        Assert.DoesNotContain("password=", Text(redis, "configuration"), StringComparison.Ordinal);
        Assert.All(new[] { "requests", "limits" }, r => Assert.NotEmpty(Map(container, "resources", r).Children));
    }

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(file);
        stream.Load(reader);
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static string Kind(YamlMappingNode document) => Text(document, "kind");

    private static YamlNode Node(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (var key in path)
        {
            current = ((YamlMappingNode)current).Children[new YamlScalarNode(key)];
        }
        return current;
    }

    private static string Text(YamlMappingNode node, params string[] path) => ((YamlScalarNode)Node(node, path)).Value!;

    private static YamlMappingNode Map(YamlMappingNode node, params string[] path) => (YamlMappingNode)Node(node, path);

    private static IList<YamlNode> Seq(YamlMappingNode node, string key, bool optional = false) =>
        optional && !node.Children.ContainsKey(key) ? [] : ((YamlSequenceNode)node.Children[key]).Children;

    private static IEnumerable<string> Scalars(YamlNode node) => node switch
    {
        YamlScalarNode scalar => [scalar.Value ?? ""],
        YamlMappingNode map => map.Children.Values.SelectMany(Scalars),
        YamlSequenceNode seq => seq.Children.SelectMany(Scalars),
        _ => [],
    };

    /// <summary>The one YAML document of a text (the config a ConfigMap embeds).</summary>
    private static YamlMappingNode LoadOne(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
