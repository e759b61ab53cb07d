using System.Collections.Concurrent;
using System.Buffers;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>
/// <c>provider: file</c> with <c>{user}</c> in <c>path</c>: one static secret per user an agent acts for (an API key
/// each user brought), the file named by the user's validated subject. A subject that is not a safe file name is
/// refused, so no subject reaches outside its own file; a user without a file is refused with a reason, never served
/// another's. Each user's file is watched as a single <c>file</c> credential is, from its first use until it has not
/// been used for <see cref="IdleAfter"/>; at most <see cref="MaxWatchedUsers"/> are watched at once (beyond that a
/// file is read for the call and not kept).
/// </summary>
internal sealed class PerUserFileCredentialProvider : ICredentialProvider
{
    /// <summary>The placeholder in <c>path</c> the user's subject replaces.</summary>
    public const string Placeholder = "{user}";

    internal const int MaxWatchedUsers = 10_000;
    internal const int MaxSubjectLength = 128;
    internal static readonly TimeSpan IdleAfter = TimeSpan.FromMinutes(10);

    private static readonly SearchValues<char> SafeCharacters = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-");

    private readonly string _name;
    private readonly string _template;
    private readonly bool _trim;
    private readonly TimeProvider _time;
    private readonly TimeSpan _poll;
    private readonly string? _username;
    private readonly ConcurrentDictionary<string, Watched> _users = new(StringComparer.Ordinal);
    private readonly ITimer _sweep;

    public PerUserFileCredentialProvider(string name, string template, bool trim, TimeProvider time, TimeSpan poll, string? username)
    {
        _name = name;
        _template = template;
        _trim = trim;
        _time = time;
        _poll = poll;
        _username = username;
        _sweep = time.CreateTimer(_ => Sweep(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public bool IsWorkloadBound => true;

    public bool ActsOnBehalfOfUsers => true;

    /// <summary>
    /// True when <paramref name="subject"/> can name a file as it is: 1 to 128 characters of <c>A-Z a-z 0-9 . _ @ + -</c>,
    /// beginning with a letter or digit (so never <c>.</c>, <c>..</c> or a hidden file, and never a separator).
    /// </summary>
    internal static bool IsSafeName(string subject) =>
        subject.Length is > 0 and <= MaxSubjectLength && char.IsAsciiLetterOrDigit(subject[0]) && !subject.AsSpan().ContainsAnyExcept(SafeCharacters);

    public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        var user = request.OnBehalfOf ?? throw new CredentialUnavailableException(_name,
            "this credential is kept per user, and the call carries no validated user token (an MCP route with McpUserHeader passes it)");
        var subject = user.Subject;
        if (!IsSafeName(subject))
        {
            throw new UserCredentialMissingException(_name,
                $"the user's subject cannot name a secret file (only 1 to {MaxSubjectLength} characters of A-Z a-z 0-9 . _ @ + -, beginning with a letter or digit)");
        }
        var now = _time.GetUtcNow().UtcTicks;
        if (!_users.TryGetValue(subject, out var watched))
        {
            var file = new WatchedSecretFile(PathOf(subject), _trim, _time, _poll);
            if (_users.Count >= MaxWatchedUsers)
            {
                using (file)
                {
                    return ValueTask.FromResult(Read(subject, new Watched(file)));
                }
            }
            var added = new Watched(file);
            watched = _users.GetOrAdd(subject, added);
            if (!ReferenceEquals(watched, added))
            {
                file.Dispose();
            }
        }
        Interlocked.Exchange(ref watched.LastUsed, now);
        return ValueTask.FromResult(Read(subject, watched));
    }

    /// <summary>The user's file: the template with the (safe) subject in place of every <c>{user}</c>.</summary>
    internal string PathOf(string subject) => _template.Replace(Placeholder, subject, StringComparison.Ordinal);

    private Credential Read(string subject, Watched watched)
    {
        if (Volatile.Read(ref watched.Current) is { } current)
        {
            return current;
        }
        if (watched.File.TryGet(out var error) is not { } secret)
        {
            if (watched.File.Missing)
            {
                throw new UserCredentialMissingException(_name, $"there is no secret for user '{subject}'");
            }
            throw new CredentialUnavailableException(_name, error!);
        }
        var credential = new Credential(_name, secret) { Username = _username, IsStatic = true };
        Volatile.Write(ref watched.Current, credential);
        return credential;
    }

    private void Sweep()
    {
        var idleSince = (_time.GetUtcNow() - IdleAfter).UtcTicks;
        foreach (var (subject, watched) in _users)
        {
            if (Interlocked.Read(ref watched.LastUsed) < idleSince && _users.TryRemove(new KeyValuePair<string, Watched>(subject, watched)))
            {
                watched.File.Dispose();
            }
        }
    }

    public void Dispose()
    {
        _sweep.Dispose();
        foreach (var watched in _users.Values)
        {
            watched.File.Dispose();
        }
        _users.Clear();
    }

    /// <summary>One user's file and the credential last read from it (dropped when the file changes).</summary>
    private sealed class Watched
    {
        public Watched(WatchedSecretFile file)
        {
            File = file;
            File.Changed += () => Volatile.Write(ref Current, null);
        }

        public WatchedSecretFile File { get; }

        public Credential? Current;

        public long LastUsed;
    }
}
