namespace SecretlessProxy.Configuration;

/// <summary>The outcome of reading a config file: a config, or every error found; warnings either way.</summary>
public sealed record ConfigCompilation(ProxyConfig? Config, IReadOnlyList<ConfigError> Errors, IReadOnlyList<ConfigError> Warnings);
