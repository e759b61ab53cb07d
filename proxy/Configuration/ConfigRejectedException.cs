namespace SecretlessProxy.Configuration;

/// <summary>Thrown at start-up when the config file has errors; holds all of them.</summary>
public sealed class ConfigRejectedException(IReadOnlyList<ConfigError> errors)
    : Exception($"the config was refused with {errors.Count} error(s):{Environment.NewLine}{string.Join(Environment.NewLine, errors)}")
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}
