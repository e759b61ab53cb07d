using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace SecretlessProxy.Telemetry;

/// <summary>
/// Spans around the proxy's own stages (<c>secretless.identity</c>, <c>secretless.policy</c>,
/// <c>secretless.credential</c>), children of ASP.NET Core's server span and siblings of YARP's and HttpClient's
/// forwarding spans. Starting one costs nothing while no exporter listens. Tags name the route, rule, credential
/// and outcome, never a secret.
/// </summary>
public static class Tracing
{
    public const string SourceName = "SecretlessProxy";

    public static readonly ActivitySource Source = new(SourceName, typeof(Tracing).Assembly.GetName().Version?.ToString());

    /// <summary>Adds the OTLP trace exporter for the proxy's spans, ASP.NET Core's server spans and the forwarder's client spans.</summary>
    internal static void Add(IServiceCollection services, TracingSettings settings)
    {
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName))
            .WithTracing(tracing =>
            {
                tracing.AddSource(SourceName, "Microsoft.AspNetCore", "Yarp.ReverseProxy", "System.Net.Http")
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(settings.SampleRatio)))
                    .AddOtlpExporter(otlp =>
                    {
                        if (settings.Endpoint is { } endpoint)
                        {
                            otlp.Endpoint = endpoint;
                            otlp.Protocol = settings.Protocol;
                        }
                    });
            });
    }
}

/// <summary>Where and how traces are exported.</summary>
/// <param name="Endpoint">The OTLP endpoint (for http/protobuf the full URL, e.g. <c>http://collector:4318/v1/traces</c>); null: the exporter reads <c>OTEL_EXPORTER_OTLP_*</c>.</param>
public sealed record TracingSettings(Uri? Endpoint, OtlpExportProtocol Protocol = OtlpExportProtocol.Grpc, double SampleRatio = 1.0, string ServiceName = "secretless-proxy")
{
    /// <summary>On when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_TRACES_ENDPOINT</c> is set (the exporter reads the rest of the standard variables itself).</summary>
    public static TracingSettings? FromEnvironment()
    {
        var configured = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"))
            || !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
        if (!configured)
        {
            return null;
        }
        var name = Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME");
        return new TracingSettings(null, ServiceName: string.IsNullOrWhiteSpace(name) ? "secretless-proxy" : name);
    }
}
