using System.Collections.Frozen;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Databases;

/// <summary>How the gateway talks TLS to an upstream database (libpq's sslmode, the useful subset).</summary>
public enum UpstreamSslMode
{
    /// <summary>Plain TCP.</summary>
    Disable,

    /// <summary>TLS without verifying the server (encrypts; protects against passive listeners only).</summary>
    Require,

    /// <summary>TLS with the server certificate chained to the configured CA file and its name checked.</summary>
    VerifyFull,
}

/// <summary>The weakest upstream authentication a database accepts (libpq's <c>require_auth</c>, as an order).</summary>
public enum UpstreamAuth
{
    Password = 1,
    Md5 = 2,
    ScramSha256 = 3,
}

/// <summary>The wire protocol of an upstream database (<c>databases.NAME.engine</c>).</summary>
public enum DatabaseEngine
{
    Postgres,

    /// <summary>MySQL or MariaDB.</summary>
    MySql,
}

/// <summary>The weakest authentication a MySQL/MariaDB upstream may ask the gateway for (<c>auth</c> of a <c>engine: mysql</c> entry).</summary>
public enum MySqlUpstreamAuth
{
    /// <summary>mysql_native_password (SHA-1 challenge-response) or stronger.</summary>
    NativePassword = 1,

    /// <summary>caching_sha2_password only.</summary>
    CachingSha2Password = 2,
}

/// <summary>A compiled <c>databases.NAME</c> entry: the upstream server, its TLS and authentication, and the roles callers may log in as.</summary>
public sealed class DatabaseSettings
{
    public required string Name { get; init; }

    public required string Host { get; init; }

    /// <summary>PostgreSQL (default) or MySQL/MariaDB: which gateway serves it.</summary>
    public DatabaseEngine Engine { get; init; } = DatabaseEngine.Postgres;

    /// <summary>For <see cref="DatabaseEngine.MySql"/>: the weakest method the upstream may ask for.</summary>
    public MySqlUpstreamAuth MySqlMinimumAuth { get; init; } = MySqlUpstreamAuth.NativePassword;

    /// <summary>For <see cref="DatabaseEngine.MySql"/>: the server's RSA public key (PEM) for caching_sha2_password full authentication over plain TCP.</summary>
    public string? ServerPublicKey { get; init; }

    /// <summary>For <see cref="DatabaseEngine.MySql"/>: ask the server for its RSA key over plain TCP when none is configured (trusts the network).</summary>
    public bool GetServerPublicKey { get; init; }

    public required int Port { get; init; }

    /// <summary>The database name on the upstream server.</summary>
    public required string UpstreamDatabase { get; init; }

    public required UpstreamSslMode SslMode { get; init; }

    /// <summary>The CAs a verify-full upstream certificate must chain to.</summary>
    public X509Certificate2Collection? CaCertificates { get; init; }

    /// <summary>The name checked against the upstream certificate (default: <see cref="Host"/>).</summary>
    public required string ServerName { get; init; }

    public required UpstreamAuth MinimumAuth { get; init; }

    /// <summary>Client role (the startup <c>user</c>) → the credential the gateway logs in with, and as whom.</summary>
    public required FrozenDictionary<string, DatabaseRole> Roles { get; init; }

    /// <summary>Startup parameters passed from the client to the upstream (besides user and database).</summary>
    public required FrozenSet<string> PassParameters { get; init; }

    /// <summary>Whether the client's <c>options</c> (which can set GUCs during login) reach the upstream.</summary>
    public bool AllowOptions { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The policy route a database is decided as (so rules name databases without clashing with HTTP routes).</summary>
    public string PolicyRoute => RouteOf(Name);

    public static string RouteOf(string database) => "postgres:" + database;

    /// <summary>The parameters every client may pass (libpq and drivers send these; none changes who logs in).</summary>
    public static readonly string[] DefaultPassParameters = ["application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits", "IntervalStyle"];
}

/// <summary>A role clients may ask for: the credential the gateway logs in with and the upstream user (default: the credential's username, else the role's name).</summary>
public sealed record DatabaseRole(string Credential, string? UpstreamUser);
