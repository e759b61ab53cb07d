using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Hosting;

/// <summary>How to start a <see cref="ProxyHost"/>.</summary>
public sealed class ProxyHostOptions
{
    public required string ConfigPath { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Extra logging setup (tests add a capturing provider).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Where decision records for the <c>stdout</c> sink go instead of the process's stdout.</summary>
    public Stream? DecisionOutput { get; init; }

    /// <summary>How often the config file and the files it names are checked for changes.</summary>
    public TimeSpan ConfigPollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Export OpenTelemetry traces over OTLP. Null: off. <see cref="Telemetry.TracingSettings.FromEnvironment"/> turns it on
    /// when the standard <c>OTEL_EXPORTER_OTLP_*</c> variables are set.
    /// </summary>
    public Telemetry.TracingSettings? Tracing { get; init; }

    /// <summary>Minimum level of the proxy's own log categories.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
}
