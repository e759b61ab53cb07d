namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// The last derived SigV4 signing key of one set of credentials (keyed by day, region and service), so a
/// request costs one HMAC instead of five. Thread-safe: readers see one immutable entry.
/// </summary>
public sealed class SigV4SigningKeyCache
{
    private Entry? _last;

    internal byte[] Get(AwsSigningCredentials credentials, string date, string region, string service)
    {
        var last = Volatile.Read(ref _last);
        if (last is not null && ReferenceEquals(last.Credentials, credentials) && last.Date == date && last.Region == region && last.Service == service)
        {
            return last.Key;
        }
        var key = SigV4Signer.DeriveKey(credentials, date, region, service);
        Volatile.Write(ref _last, new Entry(credentials, date, region, service, key));
        return key;
    }

    private sealed record Entry(AwsSigningCredentials Credentials, string Date, string Region, string Service, byte[] Key);
}
