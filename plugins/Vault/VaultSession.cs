using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>
/// The proxy's own Vault token: got by logging in (<c>auth/MOUNT/login</c> with a JWT, the service-account token,
/// the TLS client certificate or an AppRole), renewed with <c>auth/token/renew-self</c> once two thirds of its TTL
/// are gone, and got afresh when renewal is refused, when the renewed TTL got short (its <c>max_ttl</c> is near),
/// or when a call answers 403. One login or renewal at a time; readers of a valid token never wait.
/// </summary>
internal sealed partial class VaultSession(VaultSettings settings, VaultClient client, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Token? _token;

    /// <summary>Calls Vault with the proxy's token; on 403 (token revoked or expired early) logs in again and retries once.</summary>
    public async Task<VaultAnswer> CallAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        var token = await TokenAsync(cancellationToken);
        var answer = await client.SendAsync(method, path, body, token.Value, cancellationToken);
        if (answer.Status == 403)
        {
            Interlocked.CompareExchange(ref _token, null, token);
            LogRelogin(logger, settings.Name, VaultClient.Operation(path));
            token = await TokenAsync(cancellationToken);
            answer = await client.SendAsync(method, path, body, token.Value, cancellationToken);
        }
        return answer;
    }

    private async Task<Token> TokenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _token) is { } current && time.GetUtcNow() < current.RenewAt)
        {
            return current;
        }
        await _gate.WaitAsync(cancellationToken);
        try
        {
            current = _token;
            var now = time.GetUtcNow();
            if (current is not null && now < current.RenewAt)
            {
                return current;
            }
            if (current is { Renewable: true } && now < current.ExpiresAt && await RenewAsync(current, cancellationToken) is { } renewed)
            {
                Volatile.Write(ref _token, renewed);
                return renewed;
            }
            var fresh = await LoginAsync(cancellationToken);
            Volatile.Write(ref _token, fresh);
            return fresh;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Token?> RenewAsync(Token current, CancellationToken cancellationToken)
    {
        var answer = await client.SendAsync(HttpMethod.Post, "auth/token/renew-self", new { }, current.Value, cancellationToken);
        var ttl = answer.Seconds("auth", "lease_duration");
        if (!answer.Ok || ttl is not > 0)
        {
            LogRenewRefused(logger, settings.Name, answer.Status);
            return null;
        }
        var lifetime = TimeSpan.FromSeconds(ttl.Value);
        if (lifetime < current.LoginTtl / 3)
        {
            // Renewal is capped by the token's max_ttl: a new login gives a full lifetime.
            return null;
        }
        LogRenewed(logger, settings.Name, ttl.Value);
        var now = time.GetUtcNow();
        return current with { ExpiresAt = now + lifetime, RenewAt = now + lifetime * 2 / 3, Renewable = answer.Bool("auth", "renewable") };
    }

    private async Task<Token> LoginAsync(CancellationToken cancellationToken)
    {
        var auth = settings.Auth;
        var path = $"auth/{auth.Mount.Trim('/')}/login";
        object body = auth.Method switch
        {
            "jwt" or "kubernetes" => new Dictionary<string, string> { ["role"] = auth.Role!, ["jwt"] = ReadFile(auth.TokenFile!, "token file") },
            "approle" => new Dictionary<string, string> { ["role_id"] = auth.RoleId!, ["secret_id"] = ReadFile(auth.SecretIdFile!, "secret_id file") },
            _ => auth.Role is { } role ? new Dictionary<string, string> { ["name"] = role } : new Dictionary<string, string>(),
        };
        var answer = await client.SendAsync(HttpMethod.Post, path, body, token: null, cancellationToken);
        var token = answer.String("auth", "client_token");
        if (!answer.Ok || string.IsNullOrEmpty(token))
        {
            throw new CredentialUnavailableException(settings.Name,
                answer.Ok ? $"Vault login at {path} gave no token" : $"Vault refused the proxy's {auth.Method} login at {path} (HTTP {answer.Status}){RoleHint(auth)}");
        }
        var ttl = answer.Seconds("auth", "lease_duration") ?? 0;
        var now = time.GetUtcNow();
        // A TTL of 0 is a token that does not expire (Vault says so for root-like tokens); still re-login on 403.
        var lifetime = ttl > 0 ? TimeSpan.FromSeconds(ttl) : TimeSpan.FromDays(3650);
        LogLoggedIn(logger, settings.Name, auth.Method, path, ttl);
        return new Token(new SecretValue(token), now + lifetime, now + lifetime * 2 / 3, ttl > 0 && answer.Bool("auth", "renewable"), lifetime);
    }

    private static string RoleHint(VaultAuthSettings auth) => auth.Role is { } role ? $" as role '{role}'" : "";

    private string ReadFile(string path, string what)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return text.Length > 0 ? text : throw new CredentialUnavailableException(settings.Name, $"the Vault login {what} '{path}' is empty");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CredentialUnavailableException(settings.Name, $"the Vault login {what} '{path}' could not be read ({ex.GetType().Name})");
        }
    }

    public void Dispose() => _gate.Dispose();

    private sealed record Token(SecretValue Value, DateTimeOffset ExpiresAt, DateTimeOffset RenewAt, bool Renewable, TimeSpan LoginTtl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault login for credential {Credential}: method {Method} at {Path}, token TTL {Ttl} s")]
    private static partial void LogLoggedIn(ILogger logger, string credential, string method, string path, long ttl);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Vault token of credential {Credential} renewed (renew-self), TTL {Ttl} s")]
    private static partial void LogRenewed(ILogger logger, string credential, long ttl);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault refused to renew the token of credential {Credential} (HTTP {Status}); logging in again")]
    private static partial void LogRenewRefused(ILogger logger, string credential, int status);

    [LoggerMessage(Level = LogLevel.Information, Message = "Vault answered 403 to {Path} for credential {Credential}; logging in again")]
    private static partial void LogRelogin(ILogger logger, string credential, string path);
}
