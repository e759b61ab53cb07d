using System.Reflection;
using System.Reflection.Emit;

namespace SecretlessProxy.Tests.Architecture;

/// <summary>
/// Which folders (namespaces under <c>SecretlessProxy.</c>) of a compiled assembly use which others, read from the
/// IL itself: base types, interfaces, fields, signatures, attributes, and every type, method and field a method body
/// names (lambdas and async state machines are nested types, so they count for the folder that wrote them). What the
/// compiler resolved is what counts, so a qualified name (<c>Grants.GrantService</c>) is seen as well as a using.
/// </summary>
internal static class FolderDependencies
{
    private static readonly Dictionary<short, OperandType> OpCodeOperands = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    /// <summary>Folder → the folders it uses (itself excluded).</summary>
    public static SortedDictionary<string, SortedSet<string>> Of(Assembly assembly, string rootNamespace)
    {
        var graph = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes())
        {
            if (Folder(type, rootNamespace) is not { } from)
            {
                continue;
            }
            if (!graph.TryGetValue(from, out var uses))
            {
                graph[from] = uses = new SortedSet<string>(StringComparer.Ordinal);
            }
            foreach (var used in Referenced(type))
            {
                if (Folder(used, rootNamespace) is { } to && to != from)
                {
                    uses.Add(to);
                }
            }
        }
        return graph;
    }

    /// <summary>
    /// The namespaces under <paramref name="rootNamespace"/> that the types in <paramref name="ns"/> (or below it) use,
    /// other than <paramref name="ns"/> and those below it: for a folder that must stand alone.
    /// </summary>
    public static SortedSet<string> NamespacesUsedBy(Assembly assembly, string ns, string rootNamespace)
    {
        static bool Within(string? candidate, string ns) => candidate is not null && (candidate == ns || candidate.StartsWith(ns + ".", StringComparison.Ordinal));
        static string? NamespaceOf(Type type)
        {
            while (type.DeclaringType is { } outer)
            {
                type = outer;
            }
            return type.Namespace;
        }
        var used = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes().Where(t => Within(NamespaceOf(t), ns)))
        {
            foreach (var target in Referenced(type))
            {
                if (NamespaceOf(target) is { } other && Within(other, rootNamespace) && !Within(other, ns))
                {
                    used.Add(other);
                }
            }
        }
        return used;
    }

    /// <summary>Pairs of folders that use each other, as "A ↔ B".</summary>
    public static List<string> Cycles(SortedDictionary<string, SortedSet<string>> graph) =>
        [.. graph.SelectMany(pair => pair.Value.Where(to => string.CompareOrdinal(pair.Key, to) < 0 && graph.TryGetValue(to, out var back) && back.Contains(pair.Key))
            .Select(to => $"{pair.Key} <-> {to}"))];

    /// <summary>A cycle of any length (A → B → … → A), as "A -> B -> A", or null when the graph is acyclic.</summary>
    public static string? AnyCycle(SortedDictionary<string, SortedSet<string>> graph)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal);
        var path = new List<string>();
        string? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    return string.Join(" -> ", path.SkipWhile(n => n != next).Append(next));
                }
                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found)
                {
                    return found;
                }
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        foreach (var node in graph.Keys)
        {
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle)
            {
                return cycle;
            }
        }
        return null;
    }

    private static string? Folder(Type type, string root)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }
        var ns = type.Namespace;
        if (ns is null || !ns.StartsWith(root + ".", StringComparison.Ordinal))
        {
            return ns == root ? "(root)" : null;
        }
        var rest = ns[(root.Length + 1)..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? rest : rest[..dot];
    }

    private static List<Type> Referenced(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var found = new List<Type>();
        void Add(Type? t)
        {
            if (t is null)
            {
                return;
            }
            if (t.HasElementType)
            {
                Add(t.GetElementType());
                return;
            }
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                foreach (var argument in t.GetGenericArguments())
                {
                    Add(argument);
                }
                t = t.GetGenericTypeDefinition();
            }
            if (!t.IsGenericParameter)
            {
                found.Add(t);
            }
        }
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces())
        {
            Add(i);
        }
        foreach (var a in type.GetCustomAttributesData())
        {
            Add(a.AttributeType);
        }
        foreach (var field in type.GetFields(all))
        {
            Add(field.FieldType);
        }
        foreach (var property in type.GetProperties(all))
        {
            Add(property.PropertyType);
        }
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo info)
            {
                Add(info.ReturnType);
            }
            foreach (var parameter in method.GetParameters())
            {
                Add(parameter.ParameterType);
            }
            if (method.GetMethodBody() is not { } body)
            {
                continue;
            }
            foreach (var local in body.LocalVariables)
            {
                Add(local.LocalType);
            }
            foreach (var member in Tokens(method, body.GetILAsByteArray() ?? []))
            {
                switch (member)
                {
                    case Type t:
                        Add(t);
                        break;
                    case MethodBase m:
                        Add(m.DeclaringType);
                        if (m.IsGenericMethod)
                        {
                            foreach (var argument in m.GetGenericArguments())
                            {
                                Add(argument);
                            }
                        }
                        break;
                    case FieldInfo f:
                        Add(f.DeclaringType);
                        Add(f.FieldType);
                        break;
                }
            }
        }
        return found;
    }

    private static IEnumerable<MemberInfo> Tokens(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            short code = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var operand = OpCodeOperands.TryGetValue(code, out var kind) ? kind : OperandType.InlineNone;
            switch (operand)
            {
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, i);
                    MemberInfo? member = null;
                    try
                    {
                        member = module.ResolveMember(token, typeArgs, methodArgs);
                    }
                    catch (ArgumentException)
                    {
                    }
                    if (member is not null)
                    {
                        yield return member;
                    }
                    i += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    var count = BitConverter.ToInt32(il, i);
                    i += 4 + 4 * count;
                    break;
                default:
                    i += 4;
                    break;
            }
        }
    }
}
