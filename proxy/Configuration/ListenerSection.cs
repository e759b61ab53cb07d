using System.Net;
using System.Net.Quic;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>listeners</c>, loading certificates and trust bundles (so a missing file is a config error).</summary>
internal static class ListenerSection
{
    private static readonly string[] Keys = ["name", "url", "role", "certificate", "trustBundles", "protocols", "allow", "identity", "socket", "unsafeOpenLoopback", "protocol", "forwardProxy", "bearer", "console"];

    /// <param name="workloadApi">The Workload API client when <c>spiffe.workloadApi</c> is configured: https listeners without certificate or trustBundles files take them from it.</param>
    public static List<ListenerSettings> Compile(ConfigDocument document, ConfigErrorList errors, List<string> watchedFiles, DateTimeOffset now, LocalIdentityMap identities,
        IReadOnlyDictionary<string, Identity.Bearer.TokenIssuerSettings>? tokenIssuers = null, IX509Source? workloadApi = null, IFederatedBundleSource? federated = null)
    {
        var result = new List<ListenerSettings>();
        var section = document.Root.GetSection("listeners");
        if (!section.Exists())
        {
            errors.Add("listeners", "is missing", "add at least one proxy listener, e.g. listeners: [{ name: mtls, url: https://0.0.0.0:8443, certificate: { cert: proxy.pem, key: proxy.key }, trustBundles: { example.org: example.org.pem } }]");
            return result;
        }
        if (!document.IsSequence("listeners"))
        {
            errors.Add("listeners", "must be a list", "write each listener as a list item starting with '- name: ...'");
            return result;
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in section.GetChildren())
        {
            var listener = CompileOne(document, item, errors, watchedFiles, now, identities, tokenIssuers ?? new Dictionary<string, Identity.Bearer.TokenIssuerSettings>(), workloadApi, federated);
            if (listener is null)
            {
                continue;
            }
            if (!names.Add(listener.Name))
            {
                errors.Add(item.Path + ":name", $"listener name '{listener.Name}' is used twice", "give every listener its own name");
                continue;
            }
            result.Add(listener);
        }
        if (section.GetChildren().Any() && !section.GetChildren().Any(c => !string.Equals(c["role"], "admin", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add("listeners", "has no proxy listener, so no workload could call through the proxy", "add a listener with url: https://... , certificate and trustBundles");
        }
        foreach (var group in result.Where(l => l.UnixSocketPath is not null).GroupBy(l => l.UnixSocketPath, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add("listeners", $"listeners {string.Join(" and ", group.Select(l => $"'{l.Name}'"))} use the same socket file {group.Key}", "give each listener its own socket path");
        }
        var endpoints = result.Where(l => l.UnixSocketPath is null).GroupBy(l => (l.Address?.ToString() ?? "localhost", l.Port)).Where(g => g.Key.Port != 0 && g.Count() > 1);
        foreach (var group in endpoints)
        {
            errors.Add("listeners", $"listeners {string.Join(" and ", group.Select(l => $"'{l.Name}'"))} bind the same address and port", "give each listener its own port");
        }
        return result;
    }

    private static ListenerSettings? CompileOne(ConfigDocument document, IConfigurationSection item, ConfigErrorList errors, List<string> watchedFiles, DateTimeOffset now, LocalIdentityMap identities,
        IReadOnlyDictionary<string, Identity.Bearer.TokenIssuerSettings> tokenIssuers, IX509Source? workloadApi, IFederatedBundleSource? federated)
    {
        ConfigSections.CheckKnownKeys(item, Keys, errors, "a listener");
        var name = ConfigSections.Value(item, "name");
        if (name is null)
        {
            errors.Add(item.Path + ":name", "is required", "give the listener a name, e.g. name: mtls");
        }
        var roleText = ConfigSections.Value(item, "role") ?? "proxy";
        ListenerRole? role = roleText.ToLowerInvariant() switch
        {
            "proxy" => ListenerRole.Proxy,
            "admin" => ListenerRole.Admin,
            _ => null,
        };
        if (role is null)
        {
            errors.Add(item.Path + ":role", $"'{roleText}' is not a listener role", "use role: proxy (default) or role: admin");
        }

        var protocolText = ConfigSections.Value(item, "protocol") ?? "http";
        ListenerProtocol? protocol = protocolText.ToLowerInvariant() switch
        {
            "http" => ListenerProtocol.Http,
            "postgres" or "postgresql" => ListenerProtocol.Postgres,
            "mysql" or "mariadb" => ListenerProtocol.MySql,
            _ => null,
        };
        if (protocol is null)
        {
            errors.Add(item.Path + ":protocol", $"'{protocolText}' is not a listener protocol", "use protocol: http (default), protocol: postgres or protocol: mysql");
        }
        // A database gateway listener (PostgreSQL or MySQL): the same rules of URL, identity and TLS for both.
        var isPostgres = protocol is ListenerProtocol.Postgres or ListenerProtocol.MySql;
        var protocolName = protocol == ListenerProtocol.MySql ? "mysql" : "postgres";
        if (isPostgres && role == ListenerRole.Admin)
        {
            errors.Add(item.Path + ":protocol", "an admin listener speaks HTTP", "remove protocol, or make this a proxy listener");
        }

        var url = ConfigSections.Value(item, "url");
        if (isPostgres && url is not null && url.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            // Parsed as an address and port like an http URL; the scheme only says "no HTTP here".
            url = "http://" + url["tcp://".Length..];
        }
        else if (isPostgres && url is not null && !url.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(item.Path + ":url", $"a {protocolName} listener listens on tcp://ADDRESS:PORT or unix:PATH",
                protocol == ListenerProtocol.MySql ? "write e.g. url: tcp://127.0.0.1:3306 or url: unix:/run/secretless/mysqld.sock" : "write e.g. url: tcp://127.0.0.1:6432 or url: unix:/run/secretless/.s.PGSQL.5432");
            url = null;
        }
        IPAddress? address = null;
        var port = 0;
        var isHttps = false;
        var urlOk = false;
        string? socketPath = null;
        if (url is null)
        {
            errors.Add(item.Path + ":url", "is required", "set the address to listen on, e.g. url: https://0.0.0.0:8443 or url: unix:/run/secretless/proxy.sock");
        }
        else if (url.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            urlOk = TryParseSocketPath(document, item, url, errors, out socketPath);
        }
        else if (!TryParseUrl(url, out address, out port, out isHttps, out var urlError))
        {
            errors.Add(item.Path + ":url", urlError, "write scheme://address:port with an IP address, 'localhost' or '*' (e.g. https://0.0.0.0:8443), or unix:/path/to/socket");
        }
        else
        {
            urlOk = true;
        }
        var isUnix = socketPath is not null;
        var bearer = item.GetSection("bearer").Exists()
            ? BearerListenerSection.Read(item, errors, tokenIssuers, role == ListenerRole.Proxy && !isPostgres)
            : null;
        var hasBearer = item.GetSection("bearer").Exists();

        var (protocols, http3) = ReadProtocols(item, errors);
        if (urlOk && !isHttps)
        {
            // Without TLS there is no ALPN: Kestrel serves one protocol per cleartext endpoint.
            if (!item.GetSection("protocols").Exists())
            {
                protocols = HttpProtocols.Http1;
            }
            else if (protocols == HttpProtocols.Http1AndHttp2 && role == ListenerRole.Proxy)
            {
                errors.Warn(item.Path + ":protocols", "a cleartext listener serves one protocol (no TLS, so no ALPN to choose by): serving HTTP/1.1",
                    "use protocols: [http1] (the default), or protocols: [http2] for HTTP/2 with prior knowledge (h2c)");
                protocols = HttpProtocols.Http1;
            }
            if (http3)
            {
                errors.Warn(item.Path + ":protocols", "HTTP/3 needs TLS; a cleartext listener does not serve it", "remove http3");
                http3 = false;
            }
        }
        var socket = UnixSocketSettings.Default;
        if (item.GetSection("socket").Exists())
        {
            if (urlOk && !isUnix)
            {
                errors.Add(item.Path + ":socket", "applies to unix: listeners only", "remove it, or listen on url: unix:/path/to/socket");
            }
            else
            {
                socket = ReadSocket(item.GetSection("socket"), errors);
            }
        }
        var unsafeOpen = false;
        if (item.GetSection("unsafeOpenLoopback").Exists())
        {
            unsafeOpen = string.Equals(ConfigSections.Value(item, "unsafeOpenLoopback"), "true", StringComparison.OrdinalIgnoreCase);
            if (role != ListenerRole.Admin || isHttps || isUnix)
            {
                errors.Add(item.Path + ":unsafeOpenLoopback", "applies to a plain http loopback admin listener only", "remove it");
            }
        }
        var console = ConsoleMode.ReadWrite;
        if (item.GetSection("console").Exists())
        {
            var text = ConfigSections.Value(item, "console");
            if (role != ListenerRole.Admin)
            {
                errors.Add(item.Path + ":console", "applies to admin listeners only (role: admin)", "remove it");
            }
            else if (text switch { "read-write" => ConsoleMode.ReadWrite, "read-only" => ConsoleMode.ReadOnly, "off" => ConsoleMode.Off, _ => (ConsoleMode?)null } is { } mode)
            {
                console = mode;
            }
            else
            {
                errors.Add(item.Path + ":console", $"'{text}' is not a console mode", "write console: read-write (the default), read-only or off");
            }
        }
        string? identityName = null;
        if (ConfigSections.Value(item, "identity") is { } boundIdentity)
        {
            if (role != ListenerRole.Proxy || isHttps || isUnix || (isPostgres && item.GetSection("certificate").Exists()))
            {
                errors.Add(item.Path + ":identity", "applies to a plain http proxy listener on loopback only (callers of https listeners present SVIDs; Unix socket callers match identities' unix selectors)", "remove it");
            }
            else if (identities.Named(boundIdentity) is null)
            {
                errors.Add(item.Path + ":identity", $"'{boundIdentity}' is not an identity with one exact SPIFFE ID", "define it under identities: with spiffeId: spiffe://trust-domain/path");
            }
            else
            {
                identityName = boundIdentity;
            }
        }

        TlsMaterial? tls = null;
        List<SpiffeIdPattern>? adminAllow = null;
        List<UnixAdminRule>? unixAllow = null;
        if (isPostgres && urlOk && !isUnix && identityName is null && ConfigSections.Value(item, "identity") is null && !item.GetSection("certificate").Exists())
        {
            errors.Add(item.Path, $"a {protocolName} listener must identify its callers",
                "add certificate and trustBundles (callers connect with sslmode=verify-full and their X.509-SVID), listen on unix:PATH (the kernel names callers), or add identity: NAME on loopback");
        }
        if (!isPostgres && role == ListenerRole.Proxy && urlOk && !isHttps && !isUnix && identityName is null && ConfigSections.Value(item, "identity") is null && !hasBearer)
        {
            errors.Add(item.Path + ":url", "a plain http proxy listener must be bound to the identity its callers are: it has no other way to tell who calls",
                "add identity: NAME (an entry of identities) for a loopback sidecar listener, or use https:// with certificate and trustBundles, or unix:/path");
        }
        if (role == ListenerRole.Proxy && urlOk && !isHttps && !isUnix && address is not null && !IPAddress.IsLoopback(address) && !(isPostgres && item.GetSection("certificate").Exists()))
        {
            errors.Warn(item.Path + ":url", hasBearer
                    ? "binds beyond loopback without TLS: bearer tokens from other hosts would cross the network in clear text, so they are refused (401 bearer_token_insecure_transport)"
                    : "binds beyond loopback: only callers on this host are served (others get 401 not_loopback), but binding to 127.0.0.1 keeps them from connecting at all",
                hasBearer ? "bind it to 127.0.0.1, or use https:// for callers on other hosts" : "bind it to 127.0.0.1");
        }
        if (role == ListenerRole.Proxy && isUnix && !identities.HasUnixIdentities)
        {
            errors.Warn(item.Path + ":url", "no identity has unix selectors, so every caller of this socket is refused", "add unix: { uid: ..., path: ... } to an identity");
        }
        if (role == ListenerRole.Admin)
        {
            if (item.GetSection("protocols").Exists())
            {
                errors.Warn(item.Path + ":protocols", "is ignored on the admin listener: it always serves HTTP/1.1", "remove protocols from the admin listener");
            }
            if (urlOk && !isHttps && !isUnix && address is not null && !IPAddress.IsLoopback(address))
            {
                errors.Add(item.Path + ":url", "an admin listener reachable beyond this host must use mutual TLS",
                    "bind it to loopback (http://127.0.0.1:9901), use unix:/path with allow: [{ uid: 0 }], or https:// with certificate, trustBundles and allow: [admin SPIFFE IDs]");
            }
            if (urlOk && isHttps)
            {
                tls = LoadTls(document, item, errors, watchedFiles, now, workloadApi, federated);
                adminAllow = ReadAdminAllow(item, errors);
            }
            else if (urlOk && isUnix)
            {
                unixAllow = ReadUnixAdminAllow(item, errors);
                if (item.GetSection("trustBundles").Exists() || item.GetSection("certificate").Exists())
                {
                    errors.Warn(item.Path, "certificate and trustBundles apply only to an https admin listener", "remove them: the admin socket identifies callers by their uid");
                }
            }
            else if (item.GetSection("trustBundles").Exists() || item.GetSection("certificate").Exists() || item.GetSection("allow").Exists())
            {
                errors.Warn(item.Path, "certificate, trustBundles and allow apply only to an https or unix: admin listener", "use an https:// url (mutual TLS) or a unix: socket, or remove them");
            }
        }
        else if (role == ListenerRole.Proxy)
        {
            if (item.GetSection("allow").Exists())
            {
                errors.Add(item.Path + ":allow", "applies to the admin listener only", "remove it: who may call through a proxy listener is decided by policies");
            }
            if (isHttps || (isPostgres && item.GetSection("certificate").Exists()))
            {
                tls = LoadTls(document, item, errors, watchedFiles, now, workloadApi, federated);
            }
            else if (item.GetSection("trustBundles").Exists() || item.GetSection("certificate").Exists())
            {
                errors.Warn(item.Path, "certificate and trustBundles apply only to an https listener", "remove them");
            }
        }

        ForwardProxySettings? forward = null;
        if (item.GetSection("forwardProxy").Exists() && hasBearer)
        {
            errors.Add(item.Path + ":bearer", "does not apply to a forward-proxy listener (a CONNECT tunnel is attested once, by the connection)", "put bearer on a reverse-proxy listener, or remove it");
        }
        if (item.GetSection("forwardProxy").Exists())
        {
            if (role != ListenerRole.Proxy || isPostgres || (!isHttps && !isUnix && ConfigSections.Value(item, "identity") is null))
            {
                errors.Add(item.Path + ":forwardProxy", "applies to a proxy listener: an https (mTLS) listener, a plain http listener bound to an identity on loopback, or a unix: listener",
                    "move it to a listener with url: https://HOST:PORT (callers present their SVID), url: http://127.0.0.1:PORT and identity: NAME, or url: unix:/path");
            }
            else
            {
                forward = ReadForwardProxy(document, item.GetSection("forwardProxy"), errors, watchedFiles, now);
            }
        }

        if (name is null || role is null || protocol is null || !urlOk)
        {
            return null;
        }
        return new ListenerSettings
        {
            Name = name,
            Role = role.Value,
            Url = url!,
            Address = address,
            Port = port,
            IsHttps = isHttps,
            Protocol = protocol.Value,
            UnixSocketPath = socketPath,
            Socket = socket,
            Protocols = protocols,
            Http3Requested = http3,
            Tls = tls,
            AdminAllow = adminAllow,
            AdminUnixAllow = unixAllow,
            UnsafeOpenLoopback = unsafeOpen,
            Console = console,
            IdentityName = identityName,
            ForwardProxy = forward,
            Bearer = bearer,
        };
    }

    /// <summary>
    /// The full paths of a <c>cert</c>/<c>key</c> pair, watched for reloads, when both are given and exist; null (with
    /// the error named) otherwise.
    /// </summary>
    private static (string Cert, string Key)? ExistingPemPair(ConfigDocument document, IConfigurationSection section, string? certPath, string? keyPath,
        string certWhat, string keyWhat, ConfigErrorList errors, List<string> watchedFiles)
    {
        if (certPath is null || keyPath is null)
        {
            return null;
        }
        var cert = Path.GetFullPath(certPath, document.Directory);
        var key = Path.GetFullPath(keyPath, document.Directory);
        watchedFiles.Add(cert);
        watchedFiles.Add(key);
        if (document.Offline)
        {
            return null;
        }
        if (!File.Exists(cert))
        {
            errors.Add(section.Path + ":cert", $"the file '{cert}' does not exist", $"point it at {certWhat} (relative paths start at the config file's folder)");
            return null;
        }
        if (!File.Exists(key))
        {
            errors.Add(section.Path + ":key", $"the file '{key}' does not exist", $"point it at {keyWhat} (relative paths start at the config file's folder)");
            return null;
        }
        return (cert, key);
    }

    private static ForwardProxySettings? ReadForwardProxy(ConfigDocument document, IConfigurationSection section, ConfigErrorList errors, List<string> watchedFiles, DateTimeOffset now)
    {
        ConfigSections.CheckKnownKeys(section, ["interceptionCa", "upstreamCaFile"], errors, "forwardProxy settings");
        var ca = section.GetSection("interceptionCa");
        ConfigSections.CheckKnownKeys(ca, ["cert", "key"], errors, "an interception CA");
        var certPath = ConfigSections.Value(ca, "cert");
        var keyPath = ConfigSections.Value(ca, "key");
        if (certPath is null)
        {
            errors.Add(ca.Path + ":cert", "is required: the forward proxy mints the certificates it shows CONNECT clients from this CA", "set interceptionCa.cert to a CA certificate's PEM file (e.g. ca.pem from 'secretless-proxy dev-ca init')");
        }
        if (keyPath is null)
        {
            errors.Add(ca.Path + ":key", "is required", "set interceptionCa.key to the CA's PEM private key (e.g. ca.key from 'secretless-proxy dev-ca init')");
        }
        InterceptionCa? interception = null;
        if (ExistingPemPair(document, ca, certPath, keyPath, "an existing PEM CA certificate", "the CA's PEM private key", errors, watchedFiles) is ({ } cert, { } key))
        {
            try
            {
                interception = InterceptionCa.Load(cert, key, TimeProvider.System);
                if (interception.Certificate.NotAfter.ToUniversalTime() < now)
                {
                    errors.Warn(ca.Path + ":cert", "the interception CA has expired; clients will refuse the certificates minted from it", "create a new one");
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException)
            {
                errors.Add(ca.Path + ":cert", ex.Message, "give a CA certificate (CA:true, ECDSA) and its private key in PEM, e.g. from 'secretless-proxy dev-ca init'");
            }
        }
        var roots = new X509Certificate2Collection();
        if (ConfigSections.Value(section, "upstreamCaFile") is { } bundleText)
        {
            var bundle = Path.GetFullPath(bundleText, document.Directory);
            watchedFiles.Add(bundle);
            if (document.Offline)
            {
                // Mounted at run time: not read offline.
            }
            else if (!File.Exists(bundle))
            {
                errors.Add(section.Path + ":upstreamCaFile", $"the file '{bundle}' does not exist", "point it at a PEM bundle of the CAs upstreams may use besides the system roots, or remove it");
            }
            else
            {
                var parsed = true;
                try
                {
                    roots.ImportFromPemFile(bundle);
                }
                catch (System.Security.Cryptography.CryptographicException)
                {
                    parsed = false;
                    errors.Add(section.Path + ":upstreamCaFile", $"'{bundle}' is not a PEM bundle of certificates", "give CA certificates in PEM");
                }
                if (parsed && roots.Count == 0)
                {
                    errors.Add(section.Path + ":upstreamCaFile", $"'{bundle}' holds no certificate", "give CA certificates in PEM");
                }
            }
        }
        return interception is null ? null : new ForwardProxySettings(interception, roots);
    }

    /// <summary>The longest path a socket address holds (<c>sun_path</c> is 108 bytes with its terminating NUL).</summary>
    private const int MaxSocketPathBytes = 107;

    private static bool TryParseSocketPath(ConfigDocument document, IConfigurationSection item, string url, ConfigErrorList errors, out string? path)
    {
        var text = url["unix:".Length..];
        if (text.StartsWith("//", StringComparison.Ordinal))
        {
            text = text[2..];
        }
        path = null;
        if (text.Length == 0)
        {
            errors.Add(item.Path + ":url", "names no socket file", "write unix:/run/secretless/proxy.sock");
            return false;
        }
        var full = Path.GetFullPath(text, document.Directory);
        if (System.Text.Encoding.UTF8.GetByteCount(full) > MaxSocketPathBytes)
        {
            errors.Add(item.Path + ":url", $"the socket path '{full}' is longer than {MaxSocketPathBytes} bytes, the most a Unix socket address holds", "use a shorter path, e.g. under /run/secretless/");
            return false;
        }
        path = full;
        return true;
    }

    private static UnixSocketSettings ReadSocket(IConfigurationSection section, ConfigErrorList errors)
    {
        ConfigSections.CheckKnownKeys(section, ["mode", "owner", "group"], errors, "socket settings");
        UnixFileMode? mode = null;
        if (ConfigSections.Value(section, "mode") is { } modeText)
        {
            try
            {
                var bits = Convert.ToInt32(modeText, 8);
                if (bits is < 0 or > 0x1FF)
                {
                    throw new FormatException();
                }
                mode = (UnixFileMode)bits;
            }
            catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
            {
                errors.Add(section.Path + ":mode", $"'{modeText}' is not an octal file mode", "write it in quotes, e.g. mode: \"0660\" (a caller needs write permission to connect)");
            }
        }
        var owner = Id(section, "owner", UnixIds.User, "user", errors);
        var group = Id(section, "group", UnixIds.Group, "group", errors);
        return new UnixSocketSettings(mode, owner, group);
    }

    private static int Id(IConfigurationSection section, string key, Func<string, uint?> resolve, string what, ConfigErrorList errors)
    {
        if (ConfigSections.Value(section, key) is not { } text)
        {
            return -1;
        }
        if (resolve(text) is { } id)
        {
            return (int)id;
        }
        errors.Add(section.Path + ":" + key, $"there is no {what} '{text}' on this host", $"use an existing {what} name or a number");
        return -1;
    }

    private static List<UnixAdminRule> ReadUnixAdminAllow(IConfigurationSection item, ConfigErrorList errors)
    {
        var result = new List<UnixAdminRule>();
        var section = item.GetSection("allow");
        foreach (var entry in section.GetChildren())
        {
            if (entry.Value is not null)
            {
                errors.Add(entry.Path, $"'{entry.Value}' is not a uid or group rule", "write allow: [{ uid: 0 }, { group: sre }] on an admin socket");
                continue;
            }
            ConfigSections.CheckKnownKeys(entry, ["uid", "user", "gid", "group"], errors, "an admin socket rule");
            var ok = true;
            uint? uid = null;
            uint? gid = null;
            if ((ConfigSections.Value(entry, "uid") ?? ConfigSections.Value(entry, "user")) is { } userText)
            {
                uid = UnixIds.User(userText);
                ok &= uid is not null;
            }
            if ((ConfigSections.Value(entry, "gid") ?? ConfigSections.Value(entry, "group")) is { } groupText)
            {
                gid = UnixIds.Group(groupText);
                ok &= gid is not null;
            }
            if (!ok)
            {
                errors.Add(entry.Path, "names a uid, user, gid or group this host does not have", "use numbers or existing names, e.g. { uid: 0 } or { group: sre }");
            }
            else if (uid is null && gid is null)
            {
                errors.Add(entry.Path, "names neither a user nor a group", "write { uid: 0 }, { user: root }, { gid: 27 } or { group: sre }");
            }
            else
            {
                result.Add(new UnixAdminRule(uid, gid));
            }
        }
        if (result.Count == 0 && !section.GetChildren().Any())
        {
            errors.Add(item.Path + ":allow", "is required for an admin socket: it lists the uids and groups that may use the admin API",
                "add allow: [{ uid: 0 }, { group: sre }]");
        }
        return result;
    }

    private static List<SpiffeIdPattern> ReadAdminAllow(IConfigurationSection item, ConfigErrorList errors)
    {
        var result = new List<SpiffeIdPattern>();
        var section = item.GetSection("allow");
        foreach (var entry in ConfigSections.Items(section))
        {
            if (SpiffeIdPattern.TryParse(entry.Value?.Trim(), out var pattern, out var error))
            {
                result.Add(pattern);
            }
            else
            {
                errors.Add(entry.Path, $"is not a SPIFFE ID or pattern: {error}", "write the admin workloads' IDs, e.g. allow: [spiffe://example.org/ns/ops/sa/admin]");
            }
        }
        if (result.Count == 0 && !section.GetChildren().Any() && section.Value is null)
        {
            errors.Add(item.Path + ":allow", "is required for an https admin listener: it lists the SPIFFE IDs that may use the admin API",
                "add allow: [spiffe://example.org/ns/ops/sa/admin]");
        }
        return result;
    }

    private static (HttpProtocols, bool) ReadProtocols(IConfigurationSection item, ConfigErrorList errors)
    {
        var section = item.GetSection("protocols");
        if (!section.Exists())
        {
            return (HttpProtocols.Http1AndHttp2, false);
        }
        var protocols = HttpProtocols.None;
        var http3 = false;
        foreach (var entry in ConfigSections.Items(section))
        {
            switch (entry.Value?.Trim().ToLowerInvariant())
            {
                case "http1" or "http/1.1" or "http1.1":
                    protocols |= HttpProtocols.Http1;
                    break;
                case "http2" or "h2":
                    protocols |= HttpProtocols.Http2;
                    break;
                case "http3" or "h3":
                    http3 = true;
                    break;
                default:
                    errors.Add(entry.Path, $"'{entry.Value}' is not an HTTP protocol", "use http1, http2 and/or http3");
                    break;
            }
        }
        if (protocols == HttpProtocols.None)
        {
            // HTTP/3 alone still needs HTTP/1.1 or HTTP/2 beside it for clients to discover it (Alt-Svc).
            protocols = HttpProtocols.Http1AndHttp2;
        }
        return (protocols, http3);
    }

    private static TlsMaterial? LoadTls(ConfigDocument document, IConfigurationSection item, ConfigErrorList errors, List<string> watchedFiles, DateTimeOffset now, IX509Source? workloadApi, IFederatedBundleSource? federated)
    {
        var certificate = item.GetSection("certificate");
        var liveCertificate = workloadApi is not null && !certificate.Exists();
        var liveBundles = workloadApi is not null && !item.GetSection("trustBundles").Exists();
        if (liveCertificate && liveBundles)
        {
            return new TlsMaterial(null, null, workloadApi!) { Federated = federated };
        }
        (System.Net.Security.SslStreamCertificateContext, DateTimeOffset)? server = null;
        if (!liveCertificate)
        {
            ConfigSections.CheckKnownKeys(certificate, ["cert", "key"], errors, "a certificate");
            var certPath = ConfigSections.Value(certificate, "cert");
            var keyPath = ConfigSections.Value(certificate, "key");
            if (certPath is null)
            {
                errors.Add(certificate.Path + ":cert", "is required for an https listener", "set certificate.cert to the server certificate's PEM file (e.g. from 'secretless-proxy dev-ca server'), or configure spiffe.workloadApi and leave certificate out");
            }
            if (keyPath is null)
            {
                errors.Add(certificate.Path + ":key", "is required for an https listener", "set certificate.key to the server certificate's PEM private key");
            }

            if (ExistingPemPair(document, certificate, certPath, keyPath, "an existing PEM certificate", "an existing PEM private key", errors, watchedFiles) is ({ } cert, { } key))
            {
                try
                {
                    server = TlsMaterial.LoadServerCertificate(cert, key);
                    if (server.Value.Item2 < now)
                    {
                        errors.Warn(certificate.Path + ":cert", "the server certificate has expired; clients will refuse it", "issue a new one");
                    }
                }
                catch (Exception ex) when (ex is InvalidDataException or System.Security.Cryptography.CryptographicException or IOException)
                {
                    errors.Add(certificate.Path + ":cert", ex.Message, "give a PEM certificate and the matching PEM private key");
                }
            }
        }

        TrustBundleSet? fileBundles = null;
        if (!liveBundles)
        {
            var bundles = new Dictionary<string, X509Certificate2Collection>(StringComparer.Ordinal);
            var bundleSection = item.GetSection("trustBundles");
            if (!bundleSection.GetChildren().Any() && federated is null)
            {
                errors.Add(item.Path + ":trustBundles", "is required for a proxy listener: without a bundle no SVID can be verified",
                    "map each trust domain to its CA bundle, e.g. trustBundles: { example.org: bundles/example.org.pem }, or configure spiffe.workloadApi and leave trustBundles out");
            }
            foreach (var entry in bundleSection.GetChildren())
            {
                if (!SpiffeId.TryValidateTrustDomain(entry.Key, out var tdError))
                {
                    errors.Add(entry.Path, $"'{entry.Key}' is not a valid trust domain name: {tdError}", "use the trust domain as it appears in SPIFFE IDs, e.g. example.org");
                    continue;
                }
                if (entry.Value is null)
                {
                    errors.Add(entry.Path, "needs a PEM bundle file", $"write {entry.Key}: path/to/{entry.Key}.pem");
                    continue;
                }
                var path = Path.GetFullPath(entry.Value, document.Directory);
                watchedFiles.Add(path);
                if (document.Offline)
                {
                    continue;
                }
                if (!File.Exists(path))
                {
                    errors.Add(entry.Path, $"the bundle file '{path}' does not exist", "point it at the trust domain's CA certificates in PEM (relative paths start at the config file's folder)");
                    continue;
                }
                try
                {
                    bundles[entry.Key] = TrustBundleSet.LoadPem(path);
                }
                catch (InvalidDataException ex)
                {
                    errors.Add(entry.Path, ex.Message, "give a PEM file of the trust domain's CA certificates");
                }
            }
            fileBundles = new TrustBundleSet(bundles);
        }
        if (workloadApi is not null)
        {
            // One part from files, the other from the Workload API.
            return server is null && !liveCertificate ? null : new TlsMaterial(server?.Item1, fileBundles, workloadApi) { Federated = federated };
        }
        return server is null ? null : new TlsMaterial(server.Value.Item1, fileBundles!) { Federated = federated };
    }

    internal static bool TryParseUrl(string url, out IPAddress? address, out int port, out bool isHttps, out string error)
    {
        address = null;
        port = 0;
        isHttps = false;
        error = "";
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            error = "is not a URL";
            return false;
        }
        var scheme = url[..schemeEnd].ToLowerInvariant();
        if (scheme is not ("http" or "https"))
        {
            error = $"scheme '{scheme}' is not supported";
            return false;
        }
        isHttps = scheme == "https";
        var rest = url[(schemeEnd + 3)..].TrimEnd('/');
        if (rest.Contains('/', StringComparison.Ordinal))
        {
            error = "a listener URL cannot have a path";
            return false;
        }
        var colon = rest.LastIndexOf(':');
        if (colon < 0 || rest.EndsWith(']'))
        {
            error = "the port is missing";
            return false;
        }
        var host = rest[..colon];
        if (!int.TryParse(rest[(colon + 1)..], out port) || port is < 0 or > 65535)
        {
            error = $"'{rest[(colon + 1)..]}' is not a port number";
            return false;
        }
        switch (host)
        {
            case "*" or "+" or "0.0.0.0":
                address = IPAddress.Any;
                return true;
            case "[::]":
                address = IPAddress.IPv6Any;
                return true;
            case "localhost":
                address = port == 0 ? IPAddress.Loopback : null;
                return true;
        }
        if (!IPAddress.TryParse(host.Trim('[', ']'), out address))
        {
            error = $"'{host}' is not an IP address, 'localhost' or '*' (listeners bind addresses, not host names)";
            return false;
        }
        return true;
    }

    /// <summary>Whether this host can serve HTTP/3 (needs libmsquic).</summary>
    internal static bool QuicSupported()
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()))
        {
            return false;
        }
        try
        {
            return QuicListener.IsSupported;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
