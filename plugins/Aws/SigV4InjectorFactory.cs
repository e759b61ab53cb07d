using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// <c>inject: { type: sigv4, service: s3, region: us-east-1, payload: unsigned|signed }</c> — signs the
/// outgoing request with AWS Signature Version 4, on the request exactly as it is sent (after route transforms,
/// to the chosen destination). The credential's user name is the access key id, its secret the secret access
/// key, and its session token (STS) goes out as <c>X-Amz-Security-Token</c>.
/// </summary>
public sealed class SigV4InjectorFactory : ICredentialInjectorFactory
{
    public const long DefaultMaxPayloadBytes = 10 * 1024 * 1024;

    public string Name => "sigv4";

    public IReadOnlyCollection<string> Keys { get; } = ["service", "region", "payload", "maxPayloadBytes", "allowHeaders"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Get("service") is not { } service)
        {
            config.Error("service", "is required", "name the AWS service signing name, e.g. service: s3");
        }
        else if (!AwsNames.IsSigningName(service))
        {
            config.Error("service", "is not an AWS signing name", "use lowercase letters, digits and '-', e.g. service: s3 or service: execute-api");
        }
        AwsNames.ValidateRegion(config, "region", required: true);
        if (config.Get("payload") is { } payload && payload is not ("signed" or "unsigned"))
        {
            config.Error("payload", "must be 'signed' or 'unsigned'", "write payload: unsigned (S3 only: the body is not hashed) or payload: signed");
        }
        if (config.Get("maxPayloadBytes") is { } max
            && (!long.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) || bytes < 1))
        {
            config.Error("maxPayloadBytes", "must be a positive whole number of bytes", $"e.g. maxPayloadBytes: {DefaultMaxPayloadBytes}");
        }
        foreach (var name in config.GetList("allowHeaders"))
        {
            if (AmzHeaderPolicy.Problem(name) is { } problem)
            {
                config.Error("allowHeaders", $"'{name}' {problem}", "list x-amz-* headers this route may sign, e.g. allowHeaders: [x-amz-copy-source, x-amz-acl]");
            }
        }
    }

    public ICredentialInjector Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var service = config.Get("service")!;
        var isS3 = service == "s3";
        // S3 accepts UNSIGNED-PAYLOAD; every other service wants the body's hash.
        var signed = config.Get("payload") is { } payload ? payload == "signed" : !isS3;
        var maxPayload = config.Get("maxPayloadBytes") is { } max ? long.Parse(max, CultureInfo.InvariantCulture) : DefaultMaxPayloadBytes;
        var options = new SigV4Options(
            config.Get("region")!,
            service,
            NormalizePath: !isS3,
            SignPayloadHashHeader: isS3 || !signed,
            EncodePath: !isS3,
            EncodeQuery: false);
        return new SigV4Injector(options, signed ? maxPayload : 0, config.TimeProvider, new AmzHeaderPolicy(isS3, config.GetList("allowHeaders")));
    }
}
