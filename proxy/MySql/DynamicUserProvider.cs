using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Databases;

namespace SecretlessProxy.MySql;

/// <summary>
/// Makes and drops the MySQL/MariaDB users of a <c>mysql-dynamic</c> credential through an admin session of the
/// proxy's own (<see cref="MySqlQuerySession"/>), one session per operation. A credential is a user for one caller:
/// <see cref="Credential.Username"/> is the user, the secret its password (the server gets only its
/// <c>mysql_native_password</c> hash), <see cref="Credential.ExpiresAt"/> now + <c>ttl</c>. MariaDB has no per-user
/// expiry time, so the proxy enforces it: the broker releases the credential at its expiry (the user's sessions are
/// killed and the user dropped), and the start-up sweep drops users of the template whose password is older than the ttl.
/// </summary>
internal sealed partial class DynamicUserProvider(
    string name, DatabaseSettings database, string adminUser, AdminPassword adminPassword, RoleNameTemplate names, TimeSpan ttl,
    SqlTemplate creation, SqlTemplate? revocation, TimeProvider time, ILogger<DynamicUserProvider> logger) : ICredentialProvider, IRevokesAtIssuer, IExpiredUserSweep
{
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);

    private const string PasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private const int PasswordLength = 32;

    private readonly SemaphoreSlim _sessions = new(2, 2);

    public bool IsWorkloadBound => true;

    public string DatabaseName => database.Name;

    public RoleNameTemplate Names => names;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.WorkloadId is not { } workload)
        {
            throw new CredentialUnavailableException(name, "a dynamic database user is made for a verified caller, and this call has none");
        }
        var now = time.GetUtcNow();
        var expiry = DateTimeOffset.FromUnixTimeSeconds((now + ttl).ToUnixTimeSeconds());
        var user = names.Render(RoleNameTemplate.CallerOf(workload), name, now, RoleNameTemplate.NewRandom());
        var password = RandomNumberGenerator.GetString(PasswordAlphabet, PasswordLength);
        // The server gets the hash only: the plaintext is never in a statement, so never in its logs either.
        var hash = MySqlPassword.NativeHash(password);
        await RunAsync("creating user " + user, async (session, token) =>
        {
            await session.QueryAsync(creation.Render(new Dictionary<string, string>(StringComparer.Ordinal) { ["name"] = user, ["password"] = hash }), token);
            return 0;
        }, hash, cancellationToken);
        Log.Created(logger, name, user, workload, expiry);
        return new Credential(name, new SecretValue(password)) { Username = user, ExpiresAt = expiry };
    }

    /// <summary>Drops the user (<c>revocation</c>) when the broker releases it; the outcome is audited. Not this template's user: null.</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credential);
        if (credential.Username is not { } user || !names.Matches(user))
        {
            return null;
        }
        return await UserRelease.DropAsync(user, "user", $"mysql {database.Host}:{database.Port.ToString(CultureInfo.InvariantCulture)}",
            () => RunAsync("dropping user " + user, (session, token) => DropAsync(session, user, token), secret: null, cancellationToken),
            dropped => (dropped ? (Action<ILogger, string, string, CredentialRelease>)Log.Dropped : Log.AlreadyGone)(logger, name, user, reason),
            why => Log.DropFailed(logger, name, user, reason, why));
    }

    /// <summary>Nothing more: the user is dropped in <see cref="RevokeAtIssuerAsync"/>, where the outcome is audited.</summary>
    public ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Drops the users this template made whose password was set longer ago than the ttl (by the server's clock).</summary>
    public async Task<int> SweepExpiredAsync(CancellationToken cancellationToken)
    {
        try
        {
            var dropped = await RunAsync("sweeping expired users", async (session, token) =>
            {
                var like = names.Prefix.Replace("_", "\\_", StringComparison.Ordinal) + "%";
                var sql = session.IsMariaDb
                    ? $"SELECT DISTINCT User, CAST(JSON_VALUE(Priv, '$.password_last_changed') AS SIGNED), UNIX_TIMESTAMP() FROM mysql.global_priv WHERE User LIKE '{like}'"
                    : $"SELECT DISTINCT User, UNIX_TIMESTAMP(password_last_changed), UNIX_TIMESTAMP() FROM mysql.user WHERE User LIKE '{like}'";
                var rows = await session.QueryAsync(sql, token);
                var count = 0;
                foreach (var row in rows)
                {
                    if (row[0] is not { } user || !names.Matches(user)
                        || !long.TryParse(row[1], CultureInfo.InvariantCulture, out var changed) || !double.TryParse(row[2], CultureInfo.InvariantCulture, out var serverNow)
                        || changed + (long)ttl.TotalSeconds >= (long)serverNow)
                    {
                        continue;
                    }
                    try
                    {
                        if (await DropAsync(session, user, token))
                        {
                            Log.SweptUser(logger, name, user);
                            count++;
                        }
                    }
                    catch (MySqlServerException ex)
                    {
                        Log.DropFailed(logger, name, user, CredentialRelease.Expired, ex.Message);
                    }
                }
                return count;
            }, secret: null, cancellationToken);
            Log.Swept(logger, name, database.Name, names.Prefix, dropped);
            return dropped;
        }
        catch (Exception ex) when (ex is CredentialUnavailableException or OperationCanceledException)
        {
            Log.SweepFailed(logger, name, database.Name, ex is CredentialUnavailableException unavailable ? unavailable.Reason : "the proxy is stopping");
            return 0;
        }
    }

    /// <summary>Ends the user's sessions, then runs <c>revocation</c> (default: DROP USER IF EXISTS for each of its hosts); false when it was gone already.</summary>
    private async Task<bool> DropAsync(MySqlQuerySession session, string user, CancellationToken cancellationToken)
    {
        var hosts = (await session.QueryAsync($"SELECT Host FROM mysql.user WHERE User = '{user}'", cancellationToken)).Select(r => r[0]).OfType<string>().ToList();
        if (hosts.Count == 0)
        {
            return false;
        }
        foreach (var id in (await session.QueryAsync($"SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{user}'", cancellationToken)).Select(r => r[0]).OfType<string>())
        {
            try
            {
                await session.QueryAsync("KILL CONNECTION " + long.Parse(id, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture), cancellationToken);
            }
            catch (MySqlServerException)
            {
                // Gone meanwhile (1094), or the admin may not kill: the drop goes on; the session ends when it disconnects.
            }
        }
        if (revocation is not null)
        {
            await session.QueryAsync(revocation.Render(new Dictionary<string, string>(StringComparer.Ordinal) { ["name"] = user }), cancellationToken);
            return true;
        }
        foreach (var host in hosts)
        {
            await session.QueryAsync($"DROP USER IF EXISTS '{user}'@'{host.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal)}'", cancellationToken);
        }
        return true;
    }

    private async Task<T> RunAsync<T>(string what, Func<MySqlQuerySession, CancellationToken, Task<T>> work, string? secret, CancellationToken cancellationToken)
    {
        var password = adminPassword.Read(name);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(OperationTimeout);
        try
        {
            await _sessions.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CredentialUnavailableException(name, $"{what}: the admin sessions to database '{database.Name}' stayed busy for {OperationTimeout.TotalSeconds:0} s", isOutage: true);
        }
        try
        {
            await using var session = await MySqlQuerySession.OpenAsync(database, adminUser, password, deadline.Token);
            return await work(session, deadline.Token);
        }
        catch (MySqlUpstreamException ex)
        {
            throw new CredentialUnavailableException(name, $"{what}: the admin login as {adminUser} to database '{database.Name}' failed: {Scrub(ex.Message, password, secret)}", ex.Unavailable);
        }
        catch (MySqlServerException ex)
        {
            // 1040 too many connections, 1205 lock wait timeout, 1213 deadlock: try later; anything else is a refusal.
            throw new CredentialUnavailableException(name, $"{what}: the server refused it: {Scrub(ex.Message, password, secret)}", ex.Code is 1040 or 1205 or 1213);
        }
        catch (MySqlProtocolException ex)
        {
            throw new CredentialUnavailableException(name, $"{what}: the server broke the protocol: {Scrub(ex.Message, password, secret)}");
        }
        catch (IOException ex)
        {
            throw new CredentialUnavailableException(name, $"{what}: the admin connection to database '{database.Name}' broke ({ex.GetType().Name})", isOutage: true);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CredentialUnavailableException(name, $"{what}: database '{database.Name}' did not answer within {OperationTimeout.TotalSeconds:0} s", isOutage: true);
        }
        finally
        {
            _sessions.Release();
        }
    }

    private static string Scrub(string text, string password, string? secret)
    {
        if (password.Length > 0)
        {
            text = text.Replace(password, SecretValue.Redacted, StringComparison.Ordinal);
        }
        if (secret is not null)
        {
            text = text.Replace(secret, SecretValue.Redacted, StringComparison.Ordinal).Replace(secret[1..], SecretValue.Redacted, StringComparison.OrdinalIgnoreCase);
        }
        return text;
    }

    public void Dispose()
    {
        // Nothing is held between operations.
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5211, Level = LogLevel.Information, Message = "Credential {Credential}: created MySQL user {User} for {Workload}, expiring {Expiry:O}")]
        public static partial void Created(ILogger logger, string credential, string user, string workload, DateTimeOffset expiry);

        [LoggerMessage(EventId = 5214, Level = LogLevel.Information, Message = "Credential {Credential}: dropped MySQL user {User} ({Reason})")]
        public static partial void Dropped(ILogger logger, string credential, string user, CredentialRelease reason);

        [LoggerMessage(EventId = 5215, Level = LogLevel.Debug, Message = "Credential {Credential}: MySQL user {User} was gone already ({Reason})")]
        public static partial void AlreadyGone(ILogger logger, string credential, string user, CredentialRelease reason);

        [LoggerMessage(EventId = 5216, Level = LogLevel.Warning, Message = "Credential {Credential}: dropping MySQL user {User} ({Reason}) failed: {Detail}; the next start-up sweep drops it")]
        public static partial void DropFailed(ILogger logger, string credential, string user, CredentialRelease reason, string detail);

        [LoggerMessage(EventId = 5217, Level = LogLevel.Information, Message = "Credential {Credential}: the start-up sweep dropped expired MySQL user {User}")]
        public static partial void SweptUser(ILogger logger, string credential, string user);

        [LoggerMessage(EventId = 5218, Level = LogLevel.Information, Message = "Credential {Credential}: start-up sweep of database {Database} for expired users named {Prefix}…: {Count} dropped")]
        public static partial void Swept(ILogger logger, string credential, string database, string prefix, int count);

        [LoggerMessage(EventId = 5219, Level = LogLevel.Warning, Message = "Credential {Credential}: the start-up sweep of database {Database} failed: {Reason}")]
        public static partial void SweepFailed(ILogger logger, string credential, string database, string reason);
    }
}
