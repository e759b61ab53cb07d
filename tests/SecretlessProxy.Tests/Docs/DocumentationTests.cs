using System.Text.RegularExpressions;
using SecretlessProxy.Cli;
using SecretlessProxy.Configuration;
using YamlDotNet.RepresentationModel;

namespace SecretlessProxy.Tests.Docs;

/// <summary>
/// The README and every page under <c>docs/</c> say only what works: each YAML snippet is config the validator accepts
/// (a whole config compiles offline; a fragment compiles inside a minimal config without an unknown key), each
/// <c>secretless-proxy …</c> command line parses with the real command line (command, subcommand, options), each
/// <c>bash scripts/…</c> names a script that exists, and each relative link reaches a file and, with <c>#…</c>, a heading.
/// </summary>
public sealed partial class DocumentationTests : IDisposable
{
    private static readonly string Root = FindRoot();

    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-docs-").FullName;

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SecretlessProxy.sln")))
        {
            dir = dir.Parent;
        }
        return dir!.FullName;
    }

    /// <summary>README.md and docs/*.md, relative to the repository.</summary>
    public static TheoryData<string> Pages()
    {
        var pages = new TheoryData<string> { "README.md" };
        foreach (var page in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            pages.Add(Path.GetRelativePath(Root, page).Replace('\\', '/'));
        }
        return pages;
    }

    private static IEnumerable<(int Line, string Language, string Body)> Blocks(string text)
    {
        foreach (Match block in Fence().Matches(text))
        {
            yield return (text[..block.Index].Count(c => c == '\n') + 1, block.Groups["lang"].Value, block.Groups["body"].Value);
        }
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Every_yaml_snippet_is_config_the_validator_accepts(string page)
    {
        var problems = new List<string>();
        foreach (var (line, language, body) in Blocks(await File.ReadAllTextAsync(Path.Combine(Root, page))))
        {
            if (language is not ("yaml" or "yml"))
            {
                continue;
            }
            var where = $"{page}:{line}";
            YamlMappingNode root;
            try
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(body));
                root = (YamlMappingNode)stream.Documents[0].RootNode;
            }
            catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or InvalidCastException or ArgumentOutOfRangeException)
            {
                problems.Add($"{where}: not a YAML mapping: {ex.Message}");
                continue;
            }
            var keys = root.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();
            if (keys.Contains("apiVersion") || keys.Contains("services"))
            {
                continue; // a Kubernetes manifest or a compose file: checked where the files live
            }
            if (keys.Contains("cases"))
            {
                problems.AddRange(keys.Except(["at", "cases", "config"]).Select(k => $"{where}: '{k}' is not a key of a policy test file"));
                continue;
            }
            var unknown = keys.Except(ConfigCompiler.TopLevelKeyNames).ToList();
            if (unknown.Count > 0)
            {
                problems.Add($"{where}: not a top-level config key: {string.Join(", ", unknown)}");
                continue;
            }
            var whole = keys.Contains("listeners") && keys.Contains("ReverseProxy");
            var text = whole ? body : Fragment(body, keys);
            var path = Path.Combine(_dir, $"snippet-{line}.yaml");
            await File.WriteAllTextAsync(path, text);
            var compiled = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog(), withoutRuntimeFiles: true);
            compiled.Config?.Dispose();
            // A fragment may name identities, routes or credentials the docs define elsewhere; it may not use a key the validator does not know.
            foreach (var error in compiled.Errors.Where(e => whole || UnknownKey().IsMatch(e.Message)))
            {
                problems.Add($"{where}: {error.KeyPath}: {error.Message}");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>A fragment inside the smallest config: one mTLS listener and no routes, unless the fragment brings its own.</summary>
    private static string Fragment(string body, List<string> keys) =>
        body + "\n"
        + (keys.Contains("listeners") ? "" : "listeners:\n  - name: mtls\n    url: https://127.0.0.1:0\n    certificate: { cert: server.pem, key: server.key }\n    trustBundles: { example.org: ca.pem }\n")
        + (keys.Contains("ReverseProxy") ? "" : "ReverseProxy:\n  Routes: {}\n  Clusters: {}\n");

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Every_command_line_in_the_docs_runs_as_written(string page)
    {
        var root = CliApp.Build(TextWriter.Null, TextWriter.Null);
        var problems = new List<string>();
        foreach (var (line, language, body) in Blocks(await File.ReadAllTextAsync(Path.Combine(Root, page))))
        {
            if (language is not ("sh" or "bash" or "shell" or "console" or ""))
            {
                continue;
            }
            foreach (var command in Commands(body))
            {
                var words = Words(command);
                var at = words.FindIndex(w => w == "secretless-proxy" || w.EndsWith("/secretless-proxy", StringComparison.Ordinal));
                // dotnet run --project proxy -- ARGS runs the same command line.
                if (at < 0 && words is ["dotnet", "run", ..] && words.IndexOf("--") is var dashes and > 0 && words.Contains("--project"))
                {
                    words[dashes] = "secretless-proxy";
                    at = dashes;
                }
                if (words.Count >= 2 && words[0] == "bash" && words[1].StartsWith("scripts/", StringComparison.Ordinal) || words.Count >= 2 && words[0] == "bash" && words[1].StartsWith(".ci/", StringComparison.Ordinal))
                {
                    if (!File.Exists(Path.Combine(Root, words[1])))
                    {
                        problems.Add($"{page}:{line}: '{words[1]}' does not exist");
                    }
                    continue;
                }
                if (at < 0 || at + 1 >= words.Count || words[at] != "secretless-proxy" && !words[at].StartsWith('.') && !words[at].StartsWith('/'))
                {
                    continue;
                }
                var arguments = words.Skip(at + 1).ToArray();
                var result = root.Parse(arguments);
                if (result.Errors.Count > 0)
                {
                    problems.Add($"{page}:{line}: 'secretless-proxy {string.Join(' ', arguments)}': {string.Join("; ", result.Errors.Select(e => e.Message))}");
                }
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>The commands of a shell block: continuation lines joined, comments dropped, split at <c>&amp;&amp;</c>, <c>;</c> and <c>|</c>.</summary>
    private static IEnumerable<string> Commands(string body)
    {
        var joined = body.Replace("\\\n", " ", StringComparison.Ordinal);
        foreach (var raw in joined.Split('\n'))
        {
            var lineText = raw.TrimStart();
            if (lineText.StartsWith("$ ", StringComparison.Ordinal))
            {
                lineText = lineText[2..];
            }
            var hash = lineText.IndexOf(" #", StringComparison.Ordinal);
            lineText = lineText.StartsWith('#') ? "" : hash >= 0 ? lineText[..hash] : lineText;
            foreach (var part in lineText.Split(["&&", ";", "|", "$(", ")"], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                yield return part;
            }
        }
    }

    /// <summary>Shell words, with single and double quotes (no expansion: a variable stays a word).</summary>
    private static List<string> Words(string command)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        char? quote = null;
        var any = false;
        foreach (var c in command)
        {
            if (quote is { } q)
            {
                if (c == q)
                {
                    quote = null;
                }
                else
                {
                    word.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                any = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (word.Length > 0 || any)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    any = false;
                }
            }
            else
            {
                word.Append(c);
            }
        }
        if (word.Length > 0 || any)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public async Task Every_relative_link_reaches_a_file_and_heading(string page)
    {
        var text = await File.ReadAllTextAsync(Path.Combine(Root, page));
        var problems = new List<string>();
        foreach (Match link in Link().Matches(Fence().Replace(text, "")))
        {
            var target = link.Groups["target"].Value;
            if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }
            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var file = hash >= 0 ? target[..hash] : target;
            var anchor = hash >= 0 ? target[(hash + 1)..] : null;
            var path = file.Length == 0 ? Path.Combine(Root, page) : Path.GetFullPath(Path.Combine(Root, Path.GetDirectoryName(page)!, file));
            if (!File.Exists(path) && !Directory.Exists(path))
            {
                problems.Add($"{page}: link to '{target}': no such file");
                continue;
            }
            if (anchor is not null && path.EndsWith(".md", StringComparison.Ordinal) && !Anchors(File.ReadAllText(path)).Contains(anchor))
            {
                problems.Add($"{page}: link to '{target}': no such heading in {Path.GetFileName(path)}");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats numbered.</summary>
    internal static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match heading in Heading().Matches(Fence().Replace(markdown, "")))
        {
            var slug = new string([.. heading.Groups["text"].Value.Trim().ToLowerInvariant().Where(c => char.IsLetterOrDigit(c) || c is '-' or '_' or ' ')]).Replace(' ', '-');
            var count = seen.GetValueOrDefault(slug);
            seen[slug] = count + 1;
            anchors.Add(count == 0 ? slug : $"{slug}-{count}");
        }
        return anchors;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [GeneratedRegex(@"^```(?<lang>[a-z]*)[^\n]*\n(?<body>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();

    [GeneratedRegex(@"is not a (known )?key|is not a key of|not a known key", RegexOptions.IgnoreCase)]
    private static partial Regex UnknownKey();

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^#{1,6} +(?<text>.+?) *$", RegexOptions.Multiline)]
    private static partial Regex Heading();
}
