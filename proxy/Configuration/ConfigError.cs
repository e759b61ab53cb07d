namespace SecretlessProxy.Configuration;

/// <summary>One problem in a config file: where (file, line, key path), what value, what is wrong, how to fix it.</summary>
public sealed record ConfigError(string File, int? Line, string KeyPath, string? Value, string Message, string Fix)
{
    public override string ToString()
    {
        var where = Line is { } line ? $"{File}:{line}" : File;
        var key = KeyPath.Length == 0 ? "" : $" {KeyPath}:";
        var value = Value is null ? "" : $" (value: '{Value}')";
        return $"{where}:{key} {Message}{value}. Fix: {Fix}";
    }
}
