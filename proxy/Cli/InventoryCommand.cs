using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Inventory;
using StackExchange.Redis;

namespace SecretlessProxy.Cli;

/// <summary>
/// <c>inventory --config FILE [--owner X] [--team T] [--format table|json|csv]</c>: the policy-derived access paths, without
/// a running proxy. With <c>--reconcile [--unused-days N]</c>: the reconciliation report from the config, the secret files
/// it names, and, when <c>cache.redis</c> is configured and reachable, every replica's usage kept there. With <c>--mcp</c>:
/// per MCP route, the agents that called tools on it, each tool's calls, last use and users, from that usage.
/// </summary>
internal static class InventoryCommand
{
    private static readonly string[] Formats = ["table", "json", "csv"];

    /// <summary>Indented JSON through a writer (no serializer options, so the sidecar build needs no reflection for it).</summary>
    private static string Pretty(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            node.WriteTo(writer);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = CliApp.ConfigOption();
        var owner = new Option<string?>("--owner") { Description = "Only what this owner owns (owner: on identities, credentials, routes, stores, classes)" };
        var team = new Option<string?>("--team") { Description = "Only what this team owns (team: ...)" };
        var reconcile = new Option<bool>("--reconcile") { Description = "Print the reconciliation report (owners, unused credentials, identities never seen, static secrets and their age, parallel and duplicated access paths)" };
        var format = new Option<string>("--format") { Description = "table (default), json or csv", DefaultValueFactory = _ => "table" };
        var unusedDays = new Option<int>("--unused-days") { Description = "With --reconcile: a credential not used for this many days is reported (default 30; usage needs Redis)", DefaultValueFactory = _ => InventoryDefaults.UnusedDays };
        var mcp = new Option<bool>("--mcp") { Description = "Print which agents called which tools on each MCP route (calls, refusals, last use, the users they acted for; usage needs Redis)" };
        var command = new Command("inventory",
            "Print every access path the policy opens or closes (identity, route, rule, conditions, owner, credential) from the config alone; --reconcile prints the reconciliation report")
        {
            config, owner, team, reconcile, format, unusedDays, mcp,
        };
        command.SetAction(async parse =>
        {
            var chosen = parse.GetValue(format) ?? "table";
            if (!Formats.Contains(chosen, StringComparer.Ordinal))
            {
                await error.WriteLineAsync($"--format is one of: {string.Join(", ", Formats)}");
                return 2;
            }
            var days = parse.GetValue(unusedDays);
            if (days is < 0 or > 3650)
            {
                await error.WriteLineAsync("--unused-days is a whole number of days from 0 to 3650");
                return 2;
            }
            var path = parse.GetValue(config)!;
            // The access paths come from the config alone: certificates and keys (mounted at run time) are not needed.
            if (await CliApp.CompileOrReportAsync(path, error, withoutRuntimeFiles: true) is not { Config: { } compiled })
            {
                return 1;
            }
            using (compiled)
            {
                var ownerName = parse.GetValue(owner);
                var teamName = parse.GetValue(team);
                if (parse.GetValue(mcp))
                {
                    await McpAsync(compiled, ownerName, teamName, chosen, output, error);
                }
                else if (parse.GetValue(reconcile))
                {
                    await ReconcileAsync(compiled, ownerName, teamName, chosen, days, output, error);
                }
                else
                {
                    var rows = PolicyInventory.Paths(compiled, compiled.IdentityNames);
                    if (ownerName is not null || teamName is not null)
                    {
                        rows = [.. rows.Where(r => r.OwnedBy(ownerName, teamName))];
                    }
                    await output.WriteAsync(chosen switch
                    {
                        "json" => Pretty(PathsJson(rows)) + Environment.NewLine,
                        "csv" => PathsCsv(rows),
                        _ => Table(rows),
                    });
                }
            }
            return 0;
        });
        return command;
    }

    private static async Task ReconcileAsync(ProxyConfig config, string? owner, string? team, string format, int unusedDays, TextWriter output, TextWriter error)
    {
        var (usage, fingerprintKey) = await ReadRedisAsync(config);
        var fingerprints = new SecretFingerprints(Microsoft.Extensions.Logging.Abstractions.NullLogger<SecretFingerprints>.Instance);
        if (config.Inventory.FingerprintKeyFile is { } file && File.Exists(file))
        {
            fingerprints.Use(SecretFingerprints.ReadOrCreate(file), "file");
        }
        else if (fingerprintKey is not null)
        {
            fingerprints.Use(fingerprintKey, "redis");
        }
        // Local stores (files, variables, mounted directories) are read here, so their duplicates show from the config alone
        // (not a per-user file: which users there are is known only to the running proxy).
        foreach (var binding in config.Credentials.Values.Where(b => b.ProviderName is "file" or "env" or "secret-dir" && !b.Provider.ActsOnBehalfOfUsers))
        {
            try
            {
                var credential = await binding.Provider.GetCredentialAsync(new CredentialRequest(binding.Name, "", null), CancellationToken.None);
                var facts = usage.Secrets.TryGetValue(binding.Name, out var known) ? known : usage.Secrets[binding.Name] = new UsageSnapshot.SecretFacts();
                facts.Store = binding.Store;
                facts.Fingerprint = fingerprints.Of(credential.Secret);
                facts.KeyId = fingerprints.KeyId;
            }
            catch (CredentialUnavailableException ex)
            {
                await error.WriteLineAsync($"note: credential {binding.Name} could not be read here ({ex.Reason})");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"note: credential {binding.Name} could not be read here ({ex.GetType().Name})");
            }
        }
        var now = DateTimeOffset.UtcNow;
        var findings = ReconcileReport.OwnedBy(ReconcileReport.Find(config, usage, now, unusedDays), owner, team);
        switch (format)
        {
            case "json":
                await output.WriteLineAsync(Pretty(ReconcileReport.Json(findings, usage, now, unusedDays)));
                break;
            case "csv":
                await error.WriteLineAsync("note: " + usage.Note);
                await output.WriteAsync(ReconcileReport.Csv(findings));
                break;
            default:
                await output.WriteAsync(ReconcileReport.Table(findings, usage));
                break;
        }
    }

    /// <summary>The MCP section of the inventory from every replica's usage in Redis: JSON as <c>GET /inventory</c>'s <c>mcpRoutes</c>, or one row per route, agent and tool.</summary>
    private static async Task McpAsync(ProxyConfig config, string? owner, string? team, string format, TextWriter output, TextWriter error)
    {
        var (usage, _) = await ReadRedisAsync(config);
        var routes = InventoryReport.McpRoutes(config, usage, owner is null && team is null ? null : (owner, team));
        if (!usage.HasUsage)
        {
            await error.WriteLineAsync("note: " + usage.Note);
        }
        if (format == "json")
        {
            await output.WriteLineAsync(Pretty(routes));
            return;
        }
        var rows = new List<string[]>();
        foreach (var route in routes.Select(r => r!.AsObject()))
        {
            foreach (var agent in route["agents"]!.AsArray().Select(a => a!.AsObject()))
            {
                foreach (var tool in agent["tools"]!.AsArray().Select(t => t!.AsObject()))
                {
                    rows.Add([route["route"]!.GetValue<string>(), agent["identity"]!.GetValue<string>(), tool["tool"]!.GetValue<string>(),
                        tool["calls"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture), tool["refused"]!.GetValue<long>().ToString(CultureInfo.InvariantCulture),
                        tool["lastUse"]?.GetValue<DateTimeOffset>().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "",
                        string.Join(' ', tool["users"]!.AsArray().Select(u => u!["user"]!.GetValue<string>()))]);
                }
            }
        }
        string[] header = ["route", "identity", "tool", "calls", "refused", "lastUse", "users"];
        if (format == "csv")
        {
            var csv = new System.Text.StringBuilder(string.Join(',', header)).Append("\r\n");
            foreach (var row in rows)
            {
                csv.Append(string.Join(',', row.Select(c => c.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + c.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : c))).Append("\r\n");
            }
            await output.WriteAsync(csv.ToString());
            return;
        }
        var upper = header.Select(h => h.ToUpperInvariant()).ToArray();
        var widths = upper.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var text = new System.Text.StringBuilder();
        foreach (var row in rows.Prepend(upper))
        {
            text.AppendLine(string.Join("  ", row.Select((v, i) => i == row.Length - 1 ? v : v.PadRight(widths[i]))).TrimEnd());
        }
        await output.WriteAsync(text.ToString());
    }

    /// <summary>Every replica's usage and the fingerprint key from Redis, when <c>cache.redis</c> is configured and answers; else no usage.</summary>
    private static async Task<(UsageSnapshot Usage, byte[]? FingerprintKey)> ReadRedisAsync(ProxyConfig config)
    {
        if (config.Cache.Redis is not { } settings)
        {
            return (new UsageSnapshot { Source = UsageSnapshot.FromNothing }, null);
        }
        try
        {
            var options = ConfigurationOptions.Parse(settings.Configuration);
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = 3000;
            options.ConnectRetry = 1;
            options.ClientName ??= "secretless-proxy-inventory";
            if (settings.Password is not null)
            {
                options.Password = settings.Password;
            }
            await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
            var db = multiplexer.GetDatabase();
            var usage = UsageStore.Parse(await db.HashGetAllAsync(settings.KeyPrefix + UsageStore.HashName));
            var key = await SecretFingerprints.FromRedisAsync(db, settings);
            return (usage, key);
        }
        catch (Exception ex) when (Redis.RedisConnection.IsRedisFailure(ex))
        {
            return (new UsageSnapshot { Source = UsageSnapshot.FromNothing }, null);
        }
    }

    private static JsonArray PathsJson(IReadOnlyList<AccessPath> rows) => new([.. rows.Select(r => (JsonNode)new JsonObject
    {
        ["identity"] = r.Identity,
        ["name"] = r.IdentityName,
        ["owner"] = r.IdentityOwners.Owner,
        ["team"] = r.IdentityOwners.Team,
        ["route"] = r.Route,
        ["routeOwner"] = r.RouteOwners.Owner,
        ["routeTeam"] = r.RouteOwners.Team,
        ["effect"] = r.IsDeny ? "deny" : "allow",
        ["rule"] = r.Rule,
        ["methods"] = r.Methods,
        ["paths"] = r.Paths,
        ["schedule"] = r.Schedule,
        ["requiresGrant"] = r.RequiresGrant,
        ["credential"] = r.Credential,
        ["provider"] = r.Provider,
        ["store"] = r.Store,
        ["class"] = r.Class,
        ["credentialOwner"] = r.CredentialOwners.Owner,
        ["credentialTeam"] = r.CredentialOwners.Team,
        ["staticCredential"] = r.StaticCredential,
    })]);

    private static string PathsCsv(IReadOnlyList<AccessPath> rows)
    {
        var text = new System.Text.StringBuilder("identity,name,owner,team,route,effect,rule,methods,paths,schedule,requiresGrant,credential,provider,store,class,credentialOwner,static\r\n");
        foreach (var r in rows)
        {
            string?[] cells = [r.Identity, r.IdentityName, r.IdentityOwners.Owner, r.IdentityOwners.Team, r.Route, r.IsDeny ? "deny" : "allow", r.Rule, r.Methods, r.Paths, r.Schedule,
                r.RequiresGrant ? "true" : "false", r.Credential, r.Provider, r.Store, r.Class, r.CredentialOwners.Owner, r.StaticCredential is { } s ? (s ? "true" : "false") : ""];
            text.Append(string.Join(',', cells.Select(c => c is null ? "" : c.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + c.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : c))).Append("\r\n");
        }
        return text.ToString();
    }

    internal static string Table(IReadOnlyList<AccessPath> rows)
    {
        string[] header = ["IDENTITY", "OWNER", "ROUTE", "EFFECT", "RULE", "METHODS", "PATHS", "SCHEDULE", "GRANT", "CREDENTIAL"];
        var cells = rows.Select(r => new[]
        {
            r.IdentityName is null ? r.Identity : $"{r.IdentityName} ({r.Identity})",
            r.IdentityOwners.Owner ?? r.IdentityOwners.Team ?? "-",
            r.Route,
            r.IsDeny ? "deny" : "allow",
            r.Rule,
            r.Methods ?? "any",
            r.Paths ?? "any",
            r.Schedule ?? "always",
            r.RequiresGrant ? "required" : "-",
            r.Credential is null ? "-" : $"{r.Credential} ({r.Provider}{(r.StaticCredential == true ? ", static" : "")}{(r.Class is { } c ? ", class " + c : "")})",
        }).ToList();
        var widths = header.Select((h, i) => cells.Select(c => c[i].Length).Append(h.Length).Max()).ToArray();
        var text = new System.Text.StringBuilder();
        void Line(string[] values) => text.AppendLine(string.Join("  ", values.Select((v, i) => i == values.Length - 1 ? v : v.PadRight(widths[i]))).TrimEnd());
        Line(header);
        foreach (var row in cells)
        {
            Line(row);
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"{rows.Count} access path(s); {rows.Count(r => r.StaticCredential == true && !r.IsDeny)} use a static credential; {rows.Count(r => r.RequiresGrant)} need a grant");
        return text.ToString();
    }
}

/// <summary>Defaults shared by the CLI and the admin endpoint.</summary>
internal static class InventoryDefaults
{
    public const int UnusedDays = 30;
}
