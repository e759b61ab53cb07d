using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Databases;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>databases</c>: the upstream servers the PostgreSQL gateway logs in to, and the roles callers may use.</summary>
internal static class DatabaseSection
{
    private static readonly string[] Keys = ["engine", "serverPublicKeyFile", "getServerPublicKey", "host", "port", "database", "sslmode", "caFile", "serverName", "auth", "roles", "parameters", "allowOptions", "connectTimeout", "description"];

    private static readonly string[] MySqlOnlyKeys = ["serverPublicKeyFile", "getServerPublicKey"];

    /// <param name="databaseBound">Credentials made on a database entry (postgres-dynamic) → the entry they name.</param>
    public static FrozenDictionary<string, DatabaseSettings> Compile(ConfigDocument document, ConfigErrorList errors, IReadOnlyCollection<string> credentialNames, List<string> watchedFiles,
        IReadOnlyDictionary<string, string?>? databaseBound = null)
    {
        var result = new Dictionary<string, DatabaseSettings>(StringComparer.Ordinal);
        foreach (var item in document.Root.GetSection("databases").GetChildren())
        {
            ConfigSections.CheckKnownKeys(item, Keys, errors, "a database");
            var ok = true;
            var engineText = ConfigSections.Value(item, "engine") ?? "postgres";
            DatabaseEngine? engine = engineText.ToLowerInvariant() switch
            {
                "postgres" or "postgresql" => DatabaseEngine.Postgres,
                "mysql" or "mariadb" => DatabaseEngine.MySql,
                _ => null,
            };
            if (engine is null)
            {
                errors.Add(item.Path + ":engine", $"'{engineText}' is not a database engine", "use engine: postgres (default) or engine: mysql (MySQL and MariaDB)");
                ok = false;
            }
            var isMySql = engine == DatabaseEngine.MySql;
            var host = ConfigSections.Value(item, "host");
            if (host is null)
            {
                errors.Add(item.Path + ":host", "is required", $"the upstream {(isMySql ? "MySQL/MariaDB" : "PostgreSQL")} server's host name or address, e.g. host: db.internal");
                ok = false;
            }
            var port = isMySql ? 3306 : 5432;
            if (ConfigSections.Value(item, "port") is { } portText && (!int.TryParse(portText, out port) || port is < 1 or > 65535))
            {
                errors.Add(item.Path + ":port", $"'{portText}' is not a port number", isMySql ? "e.g. port: 3306" : "e.g. port: 5432");
                ok = false;
            }
            var sslText = ConfigSections.Value(item, "sslmode") ?? "verify-full";
            UpstreamSslMode? ssl = sslText.ToLowerInvariant() switch
            {
                "disable" => UpstreamSslMode.Disable,
                "require" => UpstreamSslMode.Require,
                "verify-full" => UpstreamSslMode.VerifyFull,
                _ => null,
            };
            if (ssl is null)
            {
                errors.Add(item.Path + ":sslmode", $"'{sslText}' is not an sslmode the gateway supports", "use disable, require or verify-full (verify-ca and prefer are not offered: verify the name, or say you do not)");
                ok = false;
            }
            X509Certificate2Collection? cas = null;
            var caFile = ConfigSections.Value(item, "caFile");
            if (ssl == UpstreamSslMode.VerifyFull)
            {
                if (caFile is null)
                {
                    errors.Add(item.Path + ":caFile", "is required with sslmode: verify-full", "the PEM file of the CA that issued the server's certificate");
                    ok = false;
                }
                else
                {
                    var path = Path.GetFullPath(caFile, document.Directory);
                    watchedFiles.Add(path);
                    cas = [];
                    try
                    {
                        // Offline the file is mounted only at run time: not read.
                        if (!document.Offline)
                        {
                            cas.ImportFromPemFile(path);
                            if (cas.Count == 0)
                            {
                                throw new CryptographicException("no certificate in the file");
                            }
                        }
                    }
                    catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException)
                    {
                        errors.Add(item.Path + ":caFile", $"cannot read CA certificates from '{path}': {ex.Message}", "point it at a PEM file of CA certificates");
                        ok = false;
                    }
                }
            }
            else if (caFile is not null)
            {
                errors.Warn(item.Path + ":caFile", $"is not used with sslmode: {sslText}", "use sslmode: verify-full to verify the server");
            }
            var mySqlAuth = MySqlUpstreamAuth.NativePassword;
            string? publicKey = null;
            if (isMySql)
            {
                ok &= CompileMySql(document, item, errors, watchedFiles, ssl, ref mySqlAuth, ref publicKey);
            }
            else
            {
                foreach (var key in MySqlOnlyKeys.Where(k => item.GetSection(k).Exists()))
                {
                    errors.Add(item.Path + ":" + key, "applies to engine: mysql only", "remove it");
                    ok = false;
                }
            }
            var authText = isMySql ? "scram-sha-256" : ConfigSections.Value(item, "auth") ?? "scram-sha-256";
            UpstreamAuth? auth = authText.ToLowerInvariant() switch
            {
                "scram-sha-256" => UpstreamAuth.ScramSha256,
                "md5" => UpstreamAuth.Md5,
                "password" => UpstreamAuth.Password,
                _ => null,
            };
            if (auth is null)
            {
                errors.Add(item.Path + ":auth", $"'{authText}' is not an authentication method", "use scram-sha-256 (default), md5 or password: the weakest method the upstream may ask for");
                ok = false;
            }
            else if (auth == UpstreamAuth.Password && ssl == UpstreamSslMode.Disable)
            {
                errors.Warn(item.Path + ":auth", "password with sslmode: disable sends the password in clear over the network", "use TLS (sslmode: verify-full) or scram-sha-256");
            }
            var roles = new Dictionary<string, DatabaseRole>(StringComparer.Ordinal);
            var rolesSection = item.GetSection("roles");
            foreach (var role in rolesSection.GetChildren())
            {
                if (role.Value is null)
                {
                    ConfigSections.CheckKnownKeys(role, ["credential", "user"], errors, "a database role");
                }
                var credential = role.Value ?? ConfigSections.Value(role, "credential");
                if (credential is null)
                {
                    errors.Add(role.Path, "names no credential", "write roles: { app: orders-app } (the role clients ask for → the credential the gateway logs in with), or { app: { credential: orders-app, user: orders_rw } }");
                    ok = false;
                }
                else if (!credentialNames.Contains(credential, StringComparer.OrdinalIgnoreCase))
                {
                    errors.Add(role.Path, $"names credential '{credential}', which is not defined under credentials", KeySuggestion.Fix(credential, credentialNames, "credentials"));
                    ok = false;
                }
                else if (databaseBound is not null && databaseBound.TryGetValue(credential, out var boundTo) && !string.Equals(boundTo, item.Key, StringComparison.Ordinal))
                {
                    errors.Add(role.Path, $"names credential '{credential}', whose roles are made on database '{boundTo}'",
                        $"use it from databases.{boundTo}.roles, or give this database a postgres-dynamic credential of its own (database: {item.Key})");
                    ok = false;
                }
                else if (databaseBound is not null && databaseBound.ContainsKey(credential) && role.Value is null && ConfigSections.Value(role, "user") is not null)
                {
                    errors.Add(role.Path + ":user", $"cannot be set: credential '{credential}' makes a role per caller, and the gateway logs in as that role",
                        $"write roles: {{ {role.Key}: {credential} }}");
                    ok = false;
                }
                else
                {
                    roles[role.Key] = new DatabaseRole(credentialNames.First(c => string.Equals(c, credential, StringComparison.OrdinalIgnoreCase)),
                        role.Value is null ? ConfigSections.Value(role, "user") : null);
                }
            }
            if (!rolesSection.GetChildren().Any())
            {
                errors.Add(item.Path + ":roles", "is required: it lists the roles clients may log in as and the credential for each", "write roles: { app: orders-app }");
                ok = false;
            }
            if (isMySql && (item.GetSection("parameters").Exists() || item.GetSection("allowOptions").Exists()))
            {
                errors.Add(item.Path + (item.GetSection("parameters").Exists() ? ":parameters" : ":allowOptions"), "applies to engine: postgres only",
                    "remove it: a MySQL client's connection attributes pass to the upstream as it sent them");
                ok = false;
            }
            var pass = item.GetSection("parameters").Exists()
                ? ConfigSections.Items(item.GetSection("parameters")).Select(e => e.Value ?? "").Where(v => v.Length > 0).ToList()
                : [.. DatabaseSettings.DefaultPassParameters];
            foreach (var forbidden in pass.Where(p => p is "user" or "database" or "replication" or "options").ToList())
            {
                errors.Add(item.Path + ":parameters", $"cannot pass '{forbidden}'", forbidden == "options" ? "use allowOptions: true" : "the gateway decides who logs in where; remove it");
                ok = false;
            }
            var timeout = TimeSpan.FromSeconds(5);
            if (ConfigSections.Value(item, "connectTimeout") is { } timeoutText)
            {
                if ((Durations.Parse(timeoutText) ?? (TimeSpan.TryParse(timeoutText, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : null)) is { } given && given > TimeSpan.Zero)
                {
                    timeout = given;
                }
                else
                {
                    errors.Add(item.Path + ":connectTimeout", $"'{timeoutText}' is not a positive duration", "e.g. connectTimeout: 5s");
                    ok = false;
                }
            }
            if (!ok)
            {
                continue;
            }
            result[item.Key] = new DatabaseSettings
            {
                Name = item.Key,
                Host = host!,
                Port = port,
                Engine = engine!.Value,
                MySqlMinimumAuth = mySqlAuth,
                ServerPublicKey = publicKey,
                GetServerPublicKey = string.Equals(ConfigSections.Value(item, "getServerPublicKey"), "true", StringComparison.OrdinalIgnoreCase),
                UpstreamDatabase = ConfigSections.Value(item, "database") ?? item.Key,
                SslMode = ssl!.Value,
                CaCertificates = cas,
                ServerName = ConfigSections.Value(item, "serverName") ?? host!,
                MinimumAuth = auth!.Value,
                Roles = roles.ToFrozenDictionary(StringComparer.Ordinal),
                PassParameters = pass.ToFrozenSet(StringComparer.Ordinal),
                AllowOptions = string.Equals(ConfigSections.Value(item, "allowOptions"), "true", StringComparison.OrdinalIgnoreCase),
                ConnectTimeout = timeout,
            };
        }
        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The keys of an <c>engine: mysql</c> entry: <c>auth</c> (the weakest method), the server's RSA key for plaintext full authentication.</summary>
    private static bool CompileMySql(ConfigDocument document, IConfigurationSection item, ConfigErrorList errors, List<string> watchedFiles, UpstreamSslMode? ssl,
        ref MySqlUpstreamAuth auth, ref string? publicKey)
    {
        var ok = true;
        var authText = ConfigSections.Value(item, "auth") ?? "mysql_native_password";
        MySqlUpstreamAuth? parsed = authText.ToLowerInvariant() switch
        {
            "mysql_native_password" or "native" => MySqlUpstreamAuth.NativePassword,
            "caching_sha2_password" or "caching-sha2" => MySqlUpstreamAuth.CachingSha2Password,
            _ => null,
        };
        if (parsed is null)
        {
            errors.Add(item.Path + ":auth", $"'{authText}' is not a MySQL authentication method the gateway speaks",
                "use mysql_native_password (default: it or caching_sha2_password) or caching_sha2_password (only it): the weakest method the upstream may ask for");
            ok = false;
        }
        else
        {
            auth = parsed.Value;
        }
        if (ConfigSections.Value(item, "serverPublicKeyFile") is { } keyFile)
        {
            var path = Path.GetFullPath(keyFile, document.Directory);
            watchedFiles.Add(path);
            try
            {
                // Offline the file is mounted only at run time: not read.
                if (!document.Offline)
                {
                    var pem = File.ReadAllText(path);
                    using var rsa = RSA.Create();
                    rsa.ImportFromPem(pem);
                    publicKey = pem;
                }
            }
            catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException or ArgumentException)
            {
                errors.Add(item.Path + ":serverPublicKeyFile", $"cannot read an RSA public key from '{path}': {ex.Message}", "point it at the server's public_key.pem (SHOW STATUS LIKE 'Caching_sha2_password_rsa_public_key')");
                ok = false;
            }
            if (ssl != UpstreamSslMode.Disable)
            {
                errors.Warn(item.Path + ":serverPublicKeyFile", "is not used over TLS: the password goes inside the TLS connection", "remove it, or use sslmode: disable");
            }
        }
        return ok;
    }
}
