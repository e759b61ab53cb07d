using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Databases;
using SecretlessProxy.Postgres.Auth;

namespace SecretlessProxy.Postgres;

/// <summary>
/// Makes, renews and drops the PostgreSQL roles of a <c>postgres-dynamic</c> credential through an admin session of
/// the proxy's own (<see cref="PgQuerySession"/>), one session per operation, each statement set in one transaction.
/// A credential is a role for one caller: <see cref="Credential.Username"/> is the role, the secret its password,
/// <see cref="Credential.ExpiresAt"/> its <c>VALID UNTIL</c>. Everything it needs to drop a role is in the credential
/// (the name) and the settings, so a provider built by a later reload releases what an earlier one made.
/// </summary>
internal sealed partial class DynamicRoleProvider(
    string name, DatabaseSettings database, string adminUser, AdminPassword adminPassword, RoleNameTemplate names, TimeSpan ttl,
    SqlTemplate creation, SqlTemplate? renewal, SqlTemplate revocation, TimeProvider time, ILogger<DynamicRoleProvider> logger) : ICredentialProvider, IRevokesAtIssuer, IExpiredUserSweep
{
    /// <summary>How long one admin operation (login and statements) may take.</summary>
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);

    private const string PasswordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private const int PasswordLength = 32;

    /// <summary>
    /// The advisory lock every role transaction of the proxy takes (on any server): GRANTs and DROP OWNED of two roles on
    /// one table update the same catalog row, and PostgreSQL fails the second with "tuple concurrently updated" (XX000)
    /// instead of waiting. The first 8 bytes of SHA-256("secretless-proxy postgres-dynamic").
    /// </summary>
    public static readonly long AdvisoryLock = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData("secretless-proxy postgres-dynamic"u8));

    // A few admin sessions at a time per credential: a revocation of many callers must not open hundreds.
    private readonly SemaphoreSlim _sessions = new(2, 2);

    public bool IsWorkloadBound => true;

    public string DatabaseName => database.Name;

    public RoleNameTemplate Names => names;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.WorkloadId is not { } workload)
        {
            throw new CredentialUnavailableException(name, "a dynamic database role is made for a verified caller, and this call has none");
        }
        var now = time.GetUtcNow();
        var expiry = DateTimeOffset.FromUnixTimeSeconds((now + ttl).ToUnixTimeSeconds());
        if (renewal is not null && request.Renewing is { Username: { } held } current && names.Matches(held))
        {
            try
            {
                await RunAsync("renewing role " + held, async (session, token) =>
                {
                    await session.RunInTransactionAsync(renewal.Render(Values(held, expiry)), AdvisoryLock, token);
                    return 0;
                }, secret: null, cancellationToken);
                Log.Renewed(logger, name, held, expiry);
                return current.WithExpiresAt(expiry);
            }
            catch (CredentialUnavailableException ex) when (!ex.IsOutage)
            {
                // Refused (the role is gone, say): make a new one instead.
                Log.RenewalFailed(logger, name, held, ex.Reason);
            }
        }
        var role = names.Render(RoleNameTemplate.CallerOf(workload), name, now, RoleNameTemplate.NewRandom());
        var password = RandomNumberGenerator.GetString(PasswordAlphabet, PasswordLength);
        // The server gets the verifier only: the plaintext is never in a statement, so never in its log either.
        var verifier = PostgresPassword.ScramVerifier(password);
        var values = Values(role, expiry);
        values["password"] = verifier;
        await RunAsync("creating role " + role, async (session, token) =>
        {
            await session.RunInTransactionAsync(creation.Render(values), AdvisoryLock, token);
            return 0;
        }, verifier, cancellationToken);
        Log.Created(logger, name, role, workload, expiry);
        return new Credential(name, new SecretValue(password)) { Username = role, ExpiresAt = expiry };
    }

    /// <summary>Drops the role (<c>revocation</c>) when the broker releases it; the outcome is audited. Not this template's role: null.</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(credential);
        if (credential.Username is not { } role || !names.Matches(role))
        {
            return null;
        }
        return await UserRelease.DropAsync(role, "role", $"postgres {database.Host}:{database.Port.ToString(CultureInfo.InvariantCulture)}",
            () => RunAsync("dropping role " + role, (session, token) => DropAsync(session, role, token), secret: null, cancellationToken),
            dropped => (dropped ? (Action<ILogger, string, string, CredentialRelease>)Log.Dropped : Log.AlreadyGone)(logger, name, role, reason),
            why => Log.DropFailed(logger, name, role, reason, why));
    }

    /// <summary>Nothing more: the role is dropped in <see cref="RevokeAtIssuerAsync"/>, where the outcome is audited.</summary>
    public ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Drops the roles this credential's template makes whose <c>VALID UNTIL</c> has passed (left by a crash, a reload
    /// that changed the credential, or a release that failed); returns how many. Logs what it did; never throws.
    /// </summary>
    public async Task<int> SweepExpiredAsync(CancellationToken cancellationToken)
    {
        try
        {
            var dropped = await RunAsync("sweeping expired roles", async (session, token) =>
            {
                var found = await session.QueryAsync(
                    $"SELECT rolname FROM pg_catalog.pg_roles WHERE left(rolname, {names.Prefix.Length.ToString(CultureInfo.InvariantCulture)}) = '{names.Prefix}' " +
                    "AND rolvaliduntil IS NOT NULL AND rolvaliduntil < now() AND NOT rolsuper ORDER BY rolname", token);
                if (found.Error is { } error)
                {
                    throw new PgServerException(error);
                }
                var count = 0;
                foreach (var role in found.Rows.Select(r => r[0]).OfType<string>().Where(names.Matches))
                {
                    try
                    {
                        if (await DropAsync(session, role, token))
                        {
                            Log.SweptRole(logger, name, role);
                            count++;
                        }
                    }
                    catch (PgServerException ex)
                    {
                        // One role that cannot be dropped (it owns objects elsewhere) does not stop the sweep.
                        Log.DropFailed(logger, name, role, CredentialRelease.Expired, Describe(ex.Error));
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

    /// <summary>Runs <c>revocation</c> for <paramref name="role"/> when it exists (checked under the lock); false when it was gone already.</summary>
    private async Task<bool> DropAsync(PgQuerySession session, string role, CancellationToken cancellationToken)
    {
        await session.BeginAsync(AdvisoryLock, cancellationToken);
        var exists = await session.InTransactionAsync($"SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = '{role}'", cancellationToken);
        if (exists.Rows.Count == 0)
        {
            await session.RollbackAsync(cancellationToken);
            return false;
        }
        await session.InTransactionAsync(revocation.Render(Values(role, time.GetUtcNow())), cancellationToken);
        await session.CommitAsync(cancellationToken);
        return true;
    }

    private static Dictionary<string, string> Values(string role, DateTimeOffset expiry) => new(StringComparer.Ordinal)
    {
        ["name"] = role,
        ["expiry"] = expiry.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// One admin session for <paramref name="work"/>, within <see cref="OperationTimeout"/>; every failure becomes a
    /// <see cref="CredentialUnavailableException"/> (an outage when the server is unreachable or busy, a refusal when
    /// it refused) whose reason holds neither the admin password nor <paramref name="secret"/>.
    /// </summary>
    private async Task<T> RunAsync<T>(string what, Func<PgQuerySession, CancellationToken, Task<T>> work, string? secret, CancellationToken cancellationToken)
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
            await using var session = await PgQuerySession.OpenAsync(database, adminUser, password,
                [new("application_name", "secretless-proxy"), new("statement_timeout", "20s"), new("lock_timeout", "10s")], deadline.Token);
            return await work(session, deadline.Token);
        }
        catch (UpstreamException ex)
        {
            var outage = !ex.Downgrade && IsTransient(ex.SqlState);
            throw new CredentialUnavailableException(name, $"{what}: the admin login as {adminUser} to database '{database.Name}' failed: {Scrub(ex.Message, password, secret)}", outage);
        }
        catch (PgServerException ex)
        {
            throw new CredentialUnavailableException(name, $"{what}: the server refused it: {Scrub(Describe(ex.Error), password, secret)}", IsTransient(ex.Error.SqlState));
        }
        catch (PgProtocolException ex)
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

    /// <summary>Server states that say "try later" rather than "no": connection trouble, resources, shutdown, serialization, deadlock.</summary>
    private static bool IsTransient(string sqlState) =>
        sqlState.StartsWith("08", StringComparison.Ordinal) || sqlState.StartsWith("53", StringComparison.Ordinal) || sqlState.StartsWith("57P", StringComparison.Ordinal)
        || sqlState is "40001" or "40P01" or "55P03" or "57014";

    private static string Describe(PgServerError error) => error.Detail is { } detail ? $"{error}; {detail}" : error.ToString();

    /// <summary>Removes the admin password and the verifier (and its parts) from text a server or the login produced.</summary>
    private static string Scrub(string text, string password, string? secret)
    {
        if (password.Length > 0)
        {
            text = text.Replace(password, SecretValue.Redacted, StringComparison.Ordinal);
        }
        if (secret is not null)
        {
            text = text.Replace(secret, SecretValue.Redacted, StringComparison.Ordinal);
            foreach (var part in secret.Split('$', ':').Where(p => p.Length >= 8))
            {
                text = text.Replace(part, SecretValue.Redacted, StringComparison.Ordinal);
            }
        }
        return text;
    }

    public void Dispose()
    {
        // Nothing is held between operations; releases may still run with this instance after a reload.
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Credential {Credential}: created role {Role} for {Workload}, valid until {Expiry:O}")]
        public static partial void Created(ILogger logger, string credential, string role, string workload, DateTimeOffset expiry);

        [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Credential {Credential}: renewed role {Role} until {Expiry:O}")]
        public static partial void Renewed(ILogger logger, string credential, string role, DateTimeOffset expiry);

        [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "Credential {Credential}: renewing role {Role} failed ({Reason}); creating a new role")]
        public static partial void RenewalFailed(ILogger logger, string credential, string role, string reason);

        [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "Credential {Credential}: dropped role {Role} ({Reason})")]
        public static partial void Dropped(ILogger logger, string credential, string role, CredentialRelease reason);

        [LoggerMessage(EventId = 5105, Level = LogLevel.Debug, Message = "Credential {Credential}: role {Role} was gone already ({Reason})")]
        public static partial void AlreadyGone(ILogger logger, string credential, string role, CredentialRelease reason);

        [LoggerMessage(EventId = 5106, Level = LogLevel.Warning, Message = "Credential {Credential}: dropping role {Role} ({Reason}) failed: {Detail}; it stays until its VALID UNTIL and the next start-up sweep")]
        public static partial void DropFailed(ILogger logger, string credential, string role, CredentialRelease reason, string detail);

        [LoggerMessage(EventId = 5107, Level = LogLevel.Information, Message = "Credential {Credential}: the start-up sweep dropped expired role {Role}")]
        public static partial void SweptRole(ILogger logger, string credential, string role);

        [LoggerMessage(EventId = 5108, Level = LogLevel.Information, Message = "Credential {Credential}: start-up sweep of database {Database} for expired roles named {Prefix}…: {Count} dropped")]
        public static partial void Swept(ILogger logger, string credential, string database, string prefix, int count);

        [LoggerMessage(EventId = 5109, Level = LogLevel.Warning, Message = "Credential {Credential}: the start-up sweep of database {Database} failed: {Reason}")]
        public static partial void SweepFailed(ILogger logger, string credential, string database, string reason);
    }
}
