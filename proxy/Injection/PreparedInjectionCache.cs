using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>
/// Keeps the last prepared injection per credential instance, so a cached credential is formatted (and checked
/// for CR/LF) once, not on every request.
/// </summary>
internal sealed class PreparedInjectionCache(Func<Credential, IPreparedInjection> prepare)
{
    private Entry? _last;

    public IPreparedInjection Get(Credential credential)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && ReferenceEquals(last.Credential, credential))
        {
            return last.Prepared;
        }
        var prepared = prepare(credential);
        Volatile.Write(ref _last, new Entry(credential, prepared));
        return prepared;
    }

    internal static void EnsureSafe(Credential credential, string value)
    {
        if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            throw new CredentialInjectionException(credential.Name, "its value contains CR, LF or NUL, which would split the request's headers");
        }
    }

    private sealed record Entry(Credential Credential, IPreparedInjection Prepared);
}
