using System.Globalization;
using SecretlessProxy.Testing;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// Real Unix users for the sidecar tests, made with <c>useradd</c> (system users, no home, no login shell) the first
/// time and kept, so runs are idempotent: <see cref="Worker"/> and <see cref="Stranger"/>, and <see cref="Operator"/>,
/// a member of the group <see cref="SreGroup"/>. Needs root, as CI has; a clear error otherwise.
/// </summary>
public sealed class LocalUsers
{
    public const string SreGroup = "secretless-it-sre";

    private LocalUsers(LocalUser worker, LocalUser stranger, LocalUser @operator, uint sreGid)
    {
        Worker = worker;
        Stranger = stranger;
        Operator = @operator;
        SreGid = sreGid;
    }

    public LocalUser Worker { get; }

    public LocalUser Stranger { get; }

    public LocalUser Operator { get; }

    public uint SreGid { get; }

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static LocalUsers? _instance;

    public static async Task<LocalUsers> EnsureAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_instance is not null)
            {
                return _instance;
            }
            if (Environment.UserName != "root" && (await ChildProcess.RunAsync("id", ["-u"])).Output.Trim() != "0")
            {
                throw new InvalidOperationException("the sidecar tests create Unix users (useradd) and run clients as them (setpriv): run them as root, as CI does");
            }
            if ((await ChildProcess.RunAsync("getent", ["group", SreGroup])).ExitCode != 0)
            {
                await RunAsync("groupadd", "--system", SreGroup);
            }
            var worker = await EnsureUserAsync("secretless-it-worker");
            var stranger = await EnsureUserAsync("secretless-it-stranger");
            var op = await EnsureUserAsync("secretless-it-operator");
            await RunAsync("usermod", "-a", "-G", SreGroup, op.Name);
            var gid = uint.Parse((await ChildProcess.RunAsync("getent", ["group", SreGroup])).Output.Split(':')[2], CultureInfo.InvariantCulture);
            return _instance = new LocalUsers(worker, stranger, op, gid);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<LocalUser> EnsureUserAsync(string name)
    {
        if ((await ChildProcess.RunAsync("id", ["-u", name])).ExitCode != 0)
        {
            await RunAsync("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name);
        }
        var uid = uint.Parse((await ChildProcess.RunAsync("id", ["-u", name])).Output.Trim(), CultureInfo.InvariantCulture);
        var gid = uint.Parse((await ChildProcess.RunAsync("id", ["-g", name])).Output.Trim(), CultureInfo.InvariantCulture);
        return new LocalUser(name, uid, gid);
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var (exit, output, error) = await ChildProcess.RunAsync(file, args);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({exit}): {output}{error}");
        }
    }
}

/// <summary>A Unix user: name, uid and primary gid.</summary>
public sealed record LocalUser(string Name, uint Uid, uint Gid)
{
    /// <summary>The command prefix that runs a program as this user with its groups (util-linux setpriv).</summary>
    public string[] Setpriv() => ["setpriv", "--reuid", Name, "--regid", Gid.ToString(CultureInfo.InvariantCulture), "--init-groups", "--"];
}
