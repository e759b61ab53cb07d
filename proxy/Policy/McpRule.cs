using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SecretlessProxy.Policy;

/// <summary>
/// One MCP message as the policy sees it: the JSON-RPC method, the name it acts on (a tool or prompt name, a
/// resource URI; null for other methods) and its arguments (<c>params.arguments</c> of <c>tools/call</c> and
/// <c>prompts/get</c>). <see cref="Listing"/> is set when the proxy asks whether a tool, resource or prompt may be
/// <em>shown</em> in a list answer: arguments are not known then, so argument rules do not decide.
/// </summary>
public sealed class McpCall(string method, string? name = null, JsonElement arguments = default, bool listing = false)
{
    public const string ToolsCall = "tools/call";
    public const string ToolsList = "tools/list";
    public const string ResourcesRead = "resources/read";
    public const string ResourcesList = "resources/list";
    public const string ResourceTemplatesList = "resources/templates/list";
    public const string PromptsGet = "prompts/get";
    public const string PromptsList = "prompts/list";

    public string Method { get; } = method;

    public string? Name { get; } = name;

    /// <summary>The arguments object; <c>default</c> (Undefined) when the message has none.</summary>
    public JsonElement Arguments { get; } = arguments;

    public bool Listing { get; } = listing;

    /// <summary>The subject of the validated token of the user the agent acts for; null when there is none.</summary>
    public string? User { get; set; }
}

/// <summary>
/// A policy rule's <c>mcp:</c> block, compiled: which MCP methods, tools, resources and prompts the rule covers and
/// the argument rules a covered call must satisfy. A rule without one covers the route's HTTP requests only, never
/// an MCP message (deny by default at the MCP level).
/// </summary>
public sealed class McpRule
{
    /// <summary>What an allow rule without <c>methods</c> covers besides tools, resources and prompts: the session's lifecycle.</summary>
    public static readonly IReadOnlyList<string> DefaultMethods = ["initialize", "ping", "notifications/initialized", "notifications/cancelled", "notifications/progress"];

    private static readonly NameSet DefaultMethodSet = NameSet.Of(DefaultMethods, uri: false);

    public McpRule(IReadOnlyList<string>? methods, IReadOnlyList<string>? tools, IReadOnlyList<string>? resources, IReadOnlyList<string>? prompts, IReadOnlyList<ArgumentRule>? arguments,
        IReadOnlyList<string>? users = null)
    {
        UserPatterns = users;
        _users = users is null ? null : NameSet.Of(users, uri: false);
        MethodPatterns = methods;
        ToolPatterns = tools;
        ResourcePatterns = resources;
        PromptPatterns = prompts;
        Arguments = arguments is { Count: > 0 } ? [.. arguments] : null;
        _methods = methods is null ? null : NameSet.Of(methods, uri: false);
        _tools = tools is null ? null : NameSet.Of(tools, uri: false);
        _resources = resources is null ? null : NameSet.Of(resources, uri: true);
        _prompts = prompts is null ? null : NameSet.Of(prompts, uri: false);
    }

    private readonly NameSet? _users;
    private readonly NameSet? _methods;
    private readonly NameSet? _tools;
    private readonly NameSet? _resources;
    private readonly NameSet? _prompts;

    /// <summary>The users (token subjects, or globs) the rule covers; null: any user, or none.</summary>
    public IReadOnlyList<string>? UserPatterns { get; }

    public IReadOnlyList<string>? MethodPatterns { get; }

    public IReadOnlyList<string>? ToolPatterns { get; }

    public IReadOnlyList<string>? ResourcePatterns { get; }

    public IReadOnlyList<string>? PromptPatterns { get; }

    /// <summary>Argument rules for the rule's tool calls and prompt gets; null when none.</summary>
    public ArgumentRule[]? Arguments { get; }

    public override string ToString() =>
        $"mcp(users={Join(UserPatterns)};methods={Join(MethodPatterns)};tools={Join(ToolPatterns)};resources={Join(ResourcePatterns)};prompts={Join(PromptPatterns)};arguments={(Arguments is null ? "-" : string.Join(',', Arguments.Select(a => a.ToString())))})";

    private static string Join(IReadOnlyList<string>? list) => list is null ? "-" : string.Join(',', list);

    /// <summary>Null when the rule covers the message; else what did not match (for the near-miss detail).</summary>
    public string? Mismatch(McpCall call, bool isDeny)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (_users is not null && (call.User is null || !_users.Contains(call.User)))
        {
            return call.User is null ? "mcp user (the call carries no user token)" : "mcp user";
        }
        switch (call.Method)
        {
            case McpCall.ToolsCall:
                return Covers(_tools, call, isDeny, "tool", checkArguments: true);
            case McpCall.PromptsGet:
                return Covers(_prompts, call, isDeny, "prompt", checkArguments: true);
            case McpCall.ResourcesRead:
                return Covers(_resources, call, isDeny, "resource", checkArguments: false);
            case McpCall.ToolsList:
                return Lists(_tools, isDeny, "tools");
            case McpCall.PromptsList:
                return Lists(_prompts, isDeny, "prompts");
            case McpCall.ResourcesList:
            case McpCall.ResourceTemplatesList:
                return Lists(_resources, isDeny, "resources");
            default:
                var methods = _methods ?? (isDeny ? null : DefaultMethodSet);
                return methods is not null && methods.Contains(call.Method) ? null : "mcp method " + call.Method;
        }
    }

    private string? Covers(NameSet? names, McpCall call, bool isDeny, string what, bool checkArguments)
    {
        if (names is null)
        {
            return "mcp method " + call.Method + " (the rule names no " + what + "s)";
        }
        if (call.Name is null || !names.Contains(call.Name))
        {
            return "mcp " + what;
        }
        if (!checkArguments || Arguments is not { } rules)
        {
            return null;
        }
        if (call.Listing)
        {
            // Listing: an allow rule may be called with arguments that pass; a deny rule on some arguments does not hide the tool.
            return isDeny ? "mcp arguments (not known when listing)" : null;
        }
        foreach (var rule in rules)
        {
            if (rule.Mismatch(call.Arguments) is { } problem)
            {
                return "mcp argument " + rule.Path + " (" + problem + ")";
            }
        }
        return null;
    }

    private static string? Lists(NameSet? names, bool isDeny, string what)
    {
        if (names is null)
        {
            return "mcp method (the rule names no " + what + ")";
        }
        // A deny rule hides what it names from the list; it does not refuse the list itself.
        return isDeny ? "mcp method (a deny rule filters the list, it does not refuse it)" : null;
    }

    /// <summary>Exact names in a frozen set, wildcard patterns as anchored, non-backtracking regexes.</summary>
    private sealed class NameSet
    {
        private readonly FrozenSet<string> _exact;
        private readonly Regex[] _patterns;
        private readonly bool _any;

        private NameSet(FrozenSet<string> exact, Regex[] patterns, bool any)
        {
            _exact = exact;
            _patterns = patterns;
            _any = any;
        }

        public static NameSet Of(IEnumerable<string> items, bool uri)
        {
            var exact = new List<string>();
            var patterns = new List<Regex>();
            var any = false;
            foreach (var item in items)
            {
                if (item == "*" || item == "**")
                {
                    any = true;
                }
                else if (item.Contains('*', StringComparison.Ordinal) || item.Contains('?', StringComparison.Ordinal))
                {
                    patterns.Add(Glob.ToRegex(item, uri));
                }
                else
                {
                    exact.Add(item);
                }
            }
            return new NameSet(exact.ToFrozenSet(StringComparer.Ordinal), [.. patterns], any);
        }

        public bool Contains(string name)
        {
            if (_any || _exact.Contains(name))
            {
                return true;
            }
            var patterns = _patterns;
            for (var i = 0; i < patterns.Length; i++)
            {
                if (patterns[i].IsMatch(name))
                {
                    return true;
                }
            }
            return false;
        }
    }
}

/// <summary>
/// Globs of the <c>mcp:</c> block: <c>*</c> and <c>?</c>; in names and argument patterns <c>*</c> matches any run of
/// characters; in resource URIs <c>*</c> stays within one <c>/</c> segment and <c>**</c> crosses them. Case-sensitive.
/// </summary>
public static class Glob
{
    public static Regex ToRegex(string glob, bool uri)
    {
        ArgumentNullException.ThrowIfNull(glob);
        var pattern = new StringBuilder("^(?:");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*')
            {
                if (uri && i + 1 < glob.Length && glob[i + 1] == '*')
                {
                    pattern.Append(".*");
                    i++;
                }
                else
                {
                    pattern.Append(uri ? "[^/]*" : ".*");
                }
            }
            else if (c == '?')
            {
                pattern.Append(uri ? "[^/]" : ".");
            }
            else
            {
                pattern.Append(Regex.Escape(c.ToString()));
            }
        }
        pattern.Append(")$");
        return new Regex(pattern.ToString(), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }
}

/// <summary>
/// One argument rule: a JSON pointer (RFC 6901) into the call's arguments and what the value there must be: one of
/// <c>values</c>, a string matching <c>pattern</c> (glob) or <c>regex</c> (whole value), a number within
/// <c>min</c>/<c>max</c>, a string or array no longer than <c>maxLength</c>. A missing value fails unless
/// <c>optional</c>.
/// </summary>
public sealed class ArgumentRule
{
    private readonly string[] _segments;
    private readonly FrozenSet<string>? _strings;
    private readonly double[]? _numbers;
    private readonly Regex? _pattern;
    private readonly Regex? _regex;

    public ArgumentRule(string jsonPointer, IReadOnlyList<string>? values = null, string? pattern = null, string? regex = null, double? min = null, double? max = null, int? maxLength = null, bool optional = false)
    {
        ArgumentNullException.ThrowIfNull(jsonPointer);
        if (!TryParsePointer(jsonPointer, out var segments, out var error))
        {
            throw new ArgumentException(error, nameof(jsonPointer));
        }
        _segments = segments;
        Path = jsonPointer;
        Values = values;
        if (values is not null)
        {
            _strings = values.ToFrozenSet(StringComparer.Ordinal);
            _numbers = [.. values.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : double.NaN).Where(d => !double.IsNaN(d))];
        }
        PatternText = pattern;
        _pattern = pattern is null ? null : Glob.ToRegex(pattern, uri: false);
        RegexText = regex;
        _regex = regex is null ? null : new Regex("^(?:" + regex + ")$", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        Min = min;
        Max = max;
        MaxLength = maxLength;
        Optional = optional;
    }

    public string Path { get; }

    public IReadOnlyList<string>? Values { get; }

    public string? PatternText { get; }

    public string? RegexText { get; }

    public double? Min { get; }

    public double? Max { get; }

    public int? MaxLength { get; }

    public bool Optional { get; }

    public override string ToString() =>
        FormattableString.Invariant($"{Path}[values={(Values is null ? "-" : string.Join('|', Values))};pattern={PatternText};regex={RegexText};min={Min};max={Max};maxLength={MaxLength};optional={Optional}]");

    /// <summary>RFC 6901: empty (the whole document) or '/'-separated tokens with <c>~1</c> for '/' and <c>~0</c> for '~'.</summary>
    public static bool TryParsePointer(string jsonPointer, out string[] segments, out string? error)
    {
        ArgumentNullException.ThrowIfNull(jsonPointer);
        segments = [];
        error = null;
        if (jsonPointer.Length == 0)
        {
            return true;
        }
        if (jsonPointer[0] != '/')
        {
            error = "a JSON pointer starts with '/' (e.g. /repo, /options/limit)";
            return false;
        }
        var parts = jsonPointer[1..].Split('/');
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            for (var j = 0; j < part.Length; j++)
            {
                if (part[j] == '~' && (j + 1 >= part.Length || (part[j + 1] != '0' && part[j + 1] != '1')))
                {
                    error = "'~' in a JSON pointer must be written ~0 ('~') or ~1 ('/')";
                    return false;
                }
            }
            parts[i] = part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
        }
        segments = parts;
        return true;
    }

    /// <summary>Null when the value at the pointer satisfies the rule; else why not (never the value itself).</summary>
    public string? Mismatch(JsonElement arguments)
    {
        if (!TryResolve(arguments, out var value))
        {
            return Optional ? null : "is missing";
        }
        if (_strings is not null && !ValueAllowed(value))
        {
            return "is not one of the allowed values";
        }
        if (_pattern is not null || _regex is not null)
        {
            if (value.ValueKind != JsonValueKind.String)
            {
                return "must be a string";
            }
            var text = value.GetString()!;
            if (_pattern is not null && !_pattern.IsMatch(text))
            {
                return "does not match " + PatternText;
            }
            if (_regex is not null && !_regex.IsMatch(text))
            {
                return "does not match the rule's regex";
            }
        }
        if (Min is not null || Max is not null)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number))
            {
                return "must be a number";
            }
            if (number < Min)
            {
                return FormattableString.Invariant($"must be at least {Min}");
            }
            if (number > Max)
            {
                return FormattableString.Invariant($"must be at most {Max}");
            }
        }
        if (MaxLength is { } maxLength)
        {
            var length = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString()!.Length,
                JsonValueKind.Array => value.GetArrayLength(),
                _ => -1,
            };
            if (length < 0)
            {
                return "must be a string or an array";
            }
            if (length > maxLength)
            {
                return FormattableString.Invariant($"is longer than {maxLength}");
            }
        }
        return null;
    }

    private bool ValueAllowed(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => _strings!.Contains(value.GetString()!),
        JsonValueKind.Number => value.TryGetDouble(out var d) && Array.IndexOf(_numbers!, d) >= 0,
        JsonValueKind.True => _strings!.Contains("true"),
        JsonValueKind.False => _strings!.Contains("false"),
        JsonValueKind.Null => _strings!.Contains("null"),
        _ => false,
    };

    private bool TryResolve(JsonElement root, out JsonElement value)
    {
        value = root;
        if (root.ValueKind == JsonValueKind.Undefined)
        {
            return false;
        }
        foreach (var segment in _segments)
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.Object:
                    if (!value.TryGetProperty(segment, out value))
                    {
                        return false;
                    }
                    break;
                case JsonValueKind.Array:
                    if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index >= value.GetArrayLength()
                        || (segment.Length > 1 && segment[0] == '0'))
                    {
                        return false;
                    }
                    value = value[index];
                    break;
                default:
                    return false;
            }
        }
        return true;
    }
}
