using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Reports keys under a section that the bound type has no property for, at any depth (YARP's binder would
/// silently ignore <c>Match: { Pth: ... }</c>). Free-form maps (<c>Metadata</c>, transform entries) are not checked
/// here: YARP validates transforms itself and metadata is open by design.
/// </summary>
internal static class ConfigShapeChecker
{
    public static void Check(IConfigurationSection section, Type type, ConfigErrorList errors, string what)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite || p.SetMethod is not null)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (!properties.TryGetValue(child.Key, out var property))
            {
                errors.Add(child.Path, $"'{child.Key}' is not a key of {what}", KeySuggestion.Fix(child.Key, properties.Keys.Order(StringComparer.Ordinal), "keys"), showValue: false);
                continue;
            }
            CheckValue(child, property.PropertyType, errors, property.Name);
        }
    }

    private static void CheckValue(IConfigurationSection section, Type type, ConfigErrorList errors, string name)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsLeaf(type))
        {
            return;
        }
        var dictionary = Generic(type, typeof(IReadOnlyDictionary<,>)) ?? Generic(type, typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            var valueType = dictionary.GetGenericArguments()[1];
            if (!IsLeaf(valueType) && !IsFreeForm(valueType))
            {
                foreach (var entry in section.GetChildren())
                {
                    CheckValue(entry, valueType, errors, name);
                }
            }
            return;
        }
        var list = Generic(type, typeof(IReadOnlyList<>)) ?? Generic(type, typeof(IList<>)) ?? (type.IsArray ? null : Generic(type, typeof(IEnumerable<>)));
        if (list is not null)
        {
            var itemType = list.GetGenericArguments()[0];
            if (!IsLeaf(itemType) && !IsFreeForm(itemType))
            {
                foreach (var entry in section.GetChildren())
                {
                    CheckValue(entry, itemType, errors, name);
                }
            }
            return;
        }
        if (type.IsClass)
        {
            Check(section, type, errors, $"'{name}'");
        }
    }

    private static bool IsLeaf(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
        || type == typeof(Version) || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(Uri)
        || Nullable.GetUnderlyingType(type) is { } inner && IsLeaf(inner);

    private static bool IsFreeForm(Type type) => Generic(type, typeof(IReadOnlyDictionary<,>)) is { } d && d.GetGenericArguments()[1] == typeof(string);

    private static Type? Generic(Type type, Type definition)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == definition)
        {
            return type;
        }
        return type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition && !typeof(string).IsAssignableFrom(type));
    }
}
