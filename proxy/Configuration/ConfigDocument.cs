using Microsoft.Extensions.Configuration;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SecretlessProxy.Configuration;

/// <summary>
/// A config file (YAML, or JSON, which YAML reads too) flattened into configuration keys, remembering the line
/// of every key and which keys are lists, so errors can name <c>file:line</c> and <c>policies[0].allow[1]</c>.
/// </summary>
public sealed class ConfigDocument
{
    private readonly Dictionary<string, int> _lines;
    private readonly HashSet<string> _sequences;

    private ConfigDocument(string path, IConfigurationRoot root, Dictionary<string, int> lines, HashSet<string> sequences)
    {
        FilePath = path;
        Root = root;
        _lines = lines;
        _sequences = sequences;
    }

    public string FilePath { get; }

    public string FileName => Path.GetFileName(FilePath);

    public string Directory => Path.GetDirectoryName(FilePath)!;

    public IConfigurationRoot Root { get; }

    /// <summary>
    /// True for <c>validate --offline</c> (and the commands that only read policy): files the runtime mounts
    /// (certificates, keys, bundles, secret and key files, folders for logs and state) are not checked or read.
    /// </summary>
    public bool Offline { get; private init; }

    /// <summary>This document, read offline (see <see cref="Offline"/>).</summary>
    internal ConfigDocument AsOffline() => new(FilePath, Root, _lines, _sequences) { Offline = true };

    /// <summary>Parses the file; a syntax error comes back as a <see cref="ConfigError"/> with its line.</summary>
    public static ConfigDocument? TryLoad(string path, out ConfigError? error)
    {
        var fullPath = Path.GetFullPath(path);
        error = null;
        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = new ConfigError(Path.GetFileName(fullPath), null, "", null, $"cannot read the config file '{fullPath}' ({ex.GetType().Name}: {ex.Message})",
                "check the path given to --config and that the file is readable");
            return null;
        }
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var lines = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var sequences = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count > 1)
            {
                error = new ConfigError(Path.GetFileName(fullPath), 1, "", null, "the file holds more than one YAML document", "keep one document (remove '---' separators)");
                return null;
            }
            if (stream.Documents.Count == 1)
            {
                var top = stream.Documents[0].RootNode;
                if (top is not YamlMappingNode)
                {
                    error = new ConfigError(Path.GetFileName(fullPath), (int)top.Start.Line, "", null, "the file's top level must be a mapping of keys",
                        "start the file with keys such as 'listeners:', 'credentials:', 'policies:', 'ReverseProxy:'");
                    return null;
                }
                Flatten(top, "", values, lines, sequences);
            }
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException?.Message ?? ex.Message;
            error = new ConfigError(Path.GetFileName(fullPath), (int)ex.Start.Line, "", null, $"the file is not valid YAML/JSON: {StripPosition(message)}",
                "fix the syntax at that line (indentation, a missing ':' or quote)");
            return null;
        }
        catch (ArgumentException ex)
        {
            // YamlDotNet reports a repeated key in a mapping as an ArgumentException.
            error = new ConfigError(Path.GetFileName(fullPath), null, "", null, $"the file repeats a key in one mapping ({ex.Message})", "remove or rename the repeated key");
            return null;
        }
        var root = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return new ConfigDocument(fullPath, root, lines, sequences);
    }

    private static string StripPosition(string message)
    {
        var index = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith('(') && index > 0 ? message[(index + 3)..] : message;
    }

    private static void Flatten(YamlNode node, string path, Dictionary<string, string?> values, Dictionary<string, int> lines, HashSet<string> sequences)
    {
        lines.TryAdd(path, (int)node.Start.Line);
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (keyNode, child) in mapping.Children)
                {
                    var key = ((keyNode as YamlScalarNode)?.Value ?? keyNode.ToString()).Trim();
                    var childPath = path.Length == 0 ? key : path + ConfigurationPath.KeyDelimiter + key;
                    lines[childPath] = (int)keyNode.Start.Line;
                    Flatten(child, childPath, values, lines, sequences);
                    lines[childPath] = (int)keyNode.Start.Line;
                }
                break;
            case YamlSequenceNode sequence:
                sequences.Add(path);
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    Flatten(sequence.Children[i], path + ConfigurationPath.KeyDelimiter + i, values, lines, sequences);
                }
                break;
            case YamlScalarNode scalar:
                var isNull = scalar.Style == YamlDotNet.Core.ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";
                values[path] = isNull ? null : scalar.Value;
                break;
        }
    }

    /// <summary>
    /// The same file with other values (the <c>stores</c> expansion): <paramref name="values"/> replaces every value;
    /// each key of <paramref name="sources"/> takes the line (and list-ness) of the key it was copied from, so errors
    /// on an expanded key point at the line the user wrote.
    /// </summary>
    internal ConfigDocument With(IReadOnlyDictionary<string, string?> values, IReadOnlyDictionary<string, string> sources)
    {
        var lines = new Dictionary<string, int>(_lines, StringComparer.OrdinalIgnoreCase);
        var sequences = new HashSet<string>(_sequences, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, source) in sources)
        {
            if (LineOf(source) is { } line)
            {
                lines[key] = line;
            }
            if (_sequences.Contains(source))
            {
                sequences.Add(key);
            }
        }
        var root = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return new ConfigDocument(FilePath, root, lines, sequences) { Offline = Offline };
    }

    /// <summary>True when the key was written as a list.</summary>
    public bool IsSequence(string key) => _sequences.Contains(key);

    /// <summary>True when the file writes the key, even with an empty value (<c>unix: {}</c>), which the configuration view drops.</summary>
    public bool Writes(string key) => _lines.ContainsKey(key);

    /// <summary>The line of the key, or of its nearest parent that exists.</summary>
    public int? LineOf(string key)
    {
        while (true)
        {
            if (_lines.TryGetValue(key, out var line))
            {
                return line;
            }
            var cut = key.LastIndexOf(':');
            if (cut < 0)
            {
                return null;
            }
            key = key[..cut];
        }
    }

    /// <summary><c>policies:0:allow:1</c> as the user wrote it: <c>policies[0].allow[1]</c>.</summary>
    public string Display(string key)
    {
        if (key.Length == 0)
        {
            return "(top level)";
        }
        var parts = key.Split(':');
        var result = new System.Text.StringBuilder(parts[0]);
        var prefix = parts[0];
        for (var i = 1; i < parts.Length; i++)
        {
            if (IsSequence(prefix))
            {
                result.Append('[').Append(parts[i]).Append(']');
            }
            else
            {
                result.Append('.').Append(parts[i]);
            }
            prefix += ":" + parts[i];
        }
        return result.ToString();
    }
}
