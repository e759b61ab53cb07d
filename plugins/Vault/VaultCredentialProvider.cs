using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>
/// A credential from Vault: a field of a KV v2 secret (re-read every <c>refreshInterval</c>), or a dynamic secret
/// whose lease sets the credential's lifetime, is renewed (<c>sys/leases/renew</c>) when the broker refreshes it and
/// revoked (<c>sys/leases/revoke</c>) when the broker releases it. Caching, refresh-ahead and stale-while-valid are the
/// broker's job.
/// </summary>
internal sealed partial class VaultCredentialProvider : ICredentialProvider, IReportsCircuitState, IRevokesAtIssuer
{
    private readonly VaultSettings _settings;
    private readonly VaultClient _client;
    private readonly VaultSession _session;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public VaultCredentialProvider(VaultSettings settings, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _time = time;
        _logger = logger;
        _client = new VaultClient(settings, time);
        _session = new VaultSession(settings, _client, time, logger);
    }

    public CircuitState CircuitState => _client.CircuitState;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_settings.Kv is { } kv)
        {
            return await ReadKvAsync(kv, cancellationToken);
        }
        var dynamic = _settings.Dynamic!;
        if (request.Renewing is { LeaseId: { } lease } held && Owns(lease) && await RenewAsync(held, lease, cancellationToken) is { } renewed)
        {
            return renewed;
        }
        return await ReadDynamicAsync(dynamic, cancellationToken);
    }

    private async Task<Credential> ReadKvAsync(VaultKvSettings kv, CancellationToken cancellationToken)
    {
        var path = $"{kv.Mount.Trim('/')}/data/{kv.Path}" + (kv.Version is { } v ? "?version=" + v.ToString(CultureInfo.InvariantCulture) : "");
        var where = $"{kv.Mount.Trim('/')}/data/{kv.Path}{(kv.Version is { } pinned ? $" version {pinned}" : "")}";
        var answer = await _session.CallAsync(HttpMethod.Get, path, null, cancellationToken);
        if (!answer.Ok)
        {
            throw Refused(answer.Status, answer.Status == 404 ? $"Vault has no KV v2 secret at {where} (HTTP 404: missing, deleted or destroyed)" : $"Vault refused to read {where} (HTTP {answer.Status})");
        }
        if (answer.Find("data", "metadata") is { } metadata && (metadata.TryGetProperty("destroyed", out var destroyed) && destroyed.ValueKind == JsonValueKind.True
            || metadata.TryGetProperty("deletion_time", out var deleted) && deleted.ValueKind == JsonValueKind.String && deleted.GetString() is { Length: > 0 }))
        {
            throw Refused(404, $"the KV v2 secret at {where} is deleted or destroyed");
        }
        var secret = answer.String("data", "data", kv.Field) ?? throw Refused(404, $"the KV v2 secret at {where} has no string field '{kv.Field}'");
        string? username = null;
        if (kv.UsernameField is { } userField)
        {
            username = answer.String("data", "data", userField) ?? throw Refused(404, $"the KV v2 secret at {where} has no string field '{userField}'");
        }
        var version = answer.Seconds("data", "metadata", "version");
        LogRead(_logger, _settings.Name, where, version ?? 0);
        var created = answer.String("data", "metadata", "created_time") is { } createdText
            && DateTimeOffset.TryParse(createdText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var createdAt) ? createdAt : (DateTimeOffset?)null;
        return new Credential(_settings.Name, new SecretValue(secret))
        {
            Username = username,
            IsStatic = true,
            Version = version?.ToString(CultureInfo.InvariantCulture),
            VersionCreatedAt = created,
            // Not a lease: how long the broker may serve what was read before reading it again.
            ExpiresAt = _time.GetUtcNow() + _settings.RefreshInterval,
        };
    }

    private async Task<Credential> ReadDynamicAsync(VaultDynamicSettings dynamic, CancellationToken cancellationToken)
    {
        var answer = await _session.CallAsync(HttpMethod.Get, dynamic.Path, null, cancellationToken);
        if (!answer.Ok)
        {
            throw Refused(answer.Status, $"Vault refused to issue {dynamic.Path} (HTTP {answer.Status})");
        }
        var leaseId = answer.String("lease_id");
        var ttl = answer.Seconds("lease_duration") ?? 0;
        string? secret;
        string? username;
        SecretValue? sessionToken = null;
        if (dynamic.Field is null && answer.String("data", "access_key") is { } accessKey)
        {
            // The AWS engine (creds/ROLE, sts/ROLE): the access key id, the secret key and, for STS, a session token.
            username = accessKey;
            secret = answer.String("data", "secret_key");
            if (answer.String("data", "security_token") is { Length: > 0 } token)
            {
                sessionToken = new SecretValue(token);
            }
        }
        else
        {
            secret = answer.String("data", dynamic.Field ?? "password");
            username = answer.String("data", dynamic.UsernameField ?? "username");
            if (dynamic.UsernameField is not null && username is null)
            {
                throw Refused(404, $"Vault's answer for {dynamic.Path} has no string field '{dynamic.UsernameField}'");
            }
        }
        if (string.IsNullOrEmpty(secret))
        {
            throw Refused(404, $"Vault's answer for {dynamic.Path} has no string field '{dynamic.Field ?? "password"}'");
        }
        var now = _time.GetUtcNow();
        LogIssued(_logger, _settings.Name, dynamic.Path, leaseId ?? "(none)", ttl);
        return new Credential(_settings.Name, new SecretValue(secret))
        {
            Username = username,
            SessionToken = sessionToken,
            LeaseId = string.IsNullOrEmpty(leaseId) ? null : leaseId,
            ExpiresAt = now + (ttl > 0 ? TimeSpan.FromSeconds(ttl) : _settings.RefreshInterval),
        };
    }

    /// <summary>Extends the lease; null when Vault will not (lease gone, not renewable, or at its max TTL): then a new secret is read.</summary>
    private async Task<Credential?> RenewAsync(Credential held, string lease, CancellationToken cancellationToken)
    {
        var answer = await _session.CallAsync(HttpMethod.Put, "sys/leases/renew", new Dictionary<string, string> { ["lease_id"] = lease }, cancellationToken);
        var ttl = answer.Seconds("lease_duration");
        var now = _time.GetUtcNow();
        if (!answer.Ok || ttl is not > 0 || (held.ExpiresAt is { } before && now + TimeSpan.FromSeconds(ttl.Value) <= before))
        {
            LogRenewRefused(_logger, _settings.Name, lease, answer.Status);
            return null;
        }
        LogLeaseRenewed(_logger, _settings.Name, lease, ttl.Value);
        return held.WithExpiresAt(now + TimeSpan.FromSeconds(ttl.Value));
    }

    /// <summary>A dynamic secret's lease is revoked at Vault (<c>sys/leases/revoke</c>); a KV value is not this provider's to revoke (null).</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credential);
        if (credential.LeaseId is not { } lease || !Owns(lease))
        {
            return null;
        }
        var issuer = $"vault {SafeUrl.Display(_settings.Address)} sys/leases/revoke";
        string why;
        try
        {
            var answer = await _session.CallAsync(HttpMethod.Put, "sys/leases/revoke", new Dictionary<string, string> { ["lease_id"] = lease }, cancellationToken);
            if (answer.Ok)
            {
                LogLeaseRevoked(_logger, _settings.Name, lease, reason);
                return IssuerRevocation.Done(issuer) with { Item = "lease " + lease };
            }
            why = $"Vault answered HTTP {answer.Status}";
        }
        catch (CredentialUnavailableException ex)
        {
            why = ex.Reason;
        }
        catch (ObjectDisposedException)
        {
            why = "the provider was replaced by a reload";
        }
        LogRevokeFailed(_logger, _settings.Name, lease, why);
        return IssuerRevocation.Failure(issuer, why) with { Item = "lease " + lease };
    }

    /// <summary>Nothing more to release: a lease is revoked in <see cref="RevokeAtIssuerAsync"/>, where its outcome is audited.</summary>
    public ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Only leases of this credential's path are renewed or revoked (a lease id starts with the path that issued it).</summary>
    private bool Owns(string lease) => _settings.Dynamic is { } dynamic && lease.StartsWith(dynamic.Path + "/", StringComparison.Ordinal);

    private CredentialUnavailableException Refused(int status, string reason) => new(_settings.Name, reason, isOutage: false);

    public void Dispose()
    {
        _session.Dispose();
        _client.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Vault credential {Credential}: read KV v2 {Path} (version {Version})")]
    private static partial void LogRead(ILogger logger, string credential, string path, long version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault credential {Credential}: issued {Path}, lease {Lease}, TTL {Ttl} s")]
    private static partial void LogIssued(ILogger logger, string credential, string path, string lease, long ttl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault credential {Credential}: lease {Lease} renewed, TTL {Ttl} s")]
    private static partial void LogLeaseRenewed(ILogger logger, string credential, string lease, long ttl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault credential {Credential}: lease {Lease} not renewed (HTTP {Status}); reading a new secret")]
    private static partial void LogRenewRefused(ILogger logger, string credential, string lease, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault credential {Credential}: lease {Lease} revoked ({Reason})")]
    private static partial void LogLeaseRevoked(ILogger logger, string credential, string lease, CredentialRelease reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Vault credential {Credential}: lease {Lease} could not be revoked: {Why}; it ends at its TTL")]
    private static partial void LogRevokeFailed(ILogger logger, string credential, string lease, string why);
}
