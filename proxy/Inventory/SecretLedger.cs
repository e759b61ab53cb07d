using System.Collections.Concurrent;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Inventory;

/// <summary>
/// What the proxy knows of each secret it handed out, for the inventory: when it last got a new copy from its store,
/// the lease id or version the store gave it, when that version was made, and a keyed fingerprint of the value (never
/// the value) to find one value reachable through two credentials or two stores. Fed per request with the credential
/// served; an unchanged credential (the same instance) costs one dictionary lookup and a reference comparison.
/// Workload-bound credentials (minted per caller) are not fingerprinted.
/// </summary>
public sealed class SecretLedger(SecretFingerprints fingerprints, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyDictionary<string, Entry> Entries => _entries;

    public SecretFingerprints Fingerprints => fingerprints;

    /// <summary>Notes <paramref name="credential"/> served for <paramref name="binding"/>.</summary>
    public void Served(CredentialBinding binding, Credential credential)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(credential);
        var entry = _entries.GetOrAdd(binding.Name, static _ => new Entry());
        var keyId = fingerprints.KeyId;
        if (ReferenceEquals(Volatile.Read(ref entry.LastServed), credential) && ReferenceEquals(entry.KeyId, keyId))
        {
            return;
        }
        var fingerprint = binding.Provider.IsWorkloadBound ? null : fingerprints.Of(credential.Secret);
        lock (entry)
        {
            entry.LastFetch = time.GetUtcNow();
            entry.LeaseId = credential.LeaseId;
            entry.Version = credential.Version;
            entry.VersionCreatedAt = credential.VersionCreatedAt;
            entry.Fingerprint = fingerprint;
            entry.KeyId = keyId;
            entry.Store = binding.Store;
            entry.Changes++;
            Volatile.Write(ref entry.LastServed, credential);
        }
    }

    /// <summary>
    /// Fingerprints made under an earlier key (the process's own, before the deployment's key was read from Redis) are
    /// made again under the current one from the credential last served, so all compare under one key.
    /// </summary>
    public void Refresh()
    {
        var keyId = fingerprints.KeyId;
        foreach (var entry in _entries.Values)
        {
            lock (entry)
            {
                if (entry.Fingerprint is not null && entry.LastServed is { } served && !ReferenceEquals(entry.KeyId, keyId))
                {
                    entry.Fingerprint = fingerprints.Of(served.Secret);
                    entry.KeyId = keyId;
                    entry.Changes++;
                }
            }
        }
    }

    /// <summary>One secret's facts (names, times, ids and a fingerprint; never the value).</summary>
    public sealed class Entry
    {
        internal Credential? LastServed;

        public DateTimeOffset? LastFetch { get; internal set; }

        public string? LeaseId { get; internal set; }

        public string? Version { get; internal set; }

        public DateTimeOffset? VersionCreatedAt { get; internal set; }

        public string? Fingerprint { get; internal set; }

        public string? KeyId { get; internal set; }

        public string? Store { get; internal set; }

        /// <summary>Bumped on every change (the Redis writer sends what changed since it last looked).</summary>
        public long Changes { get; internal set; }
    }
}
