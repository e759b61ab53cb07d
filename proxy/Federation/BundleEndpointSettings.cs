namespace SecretlessProxy.Federation;

/// <summary>
/// The compiled <c>spiffe.bundleEndpoint</c>: the proxy serves <paramref name="TrustDomain"/>'s bundle (its CAs from the
/// listeners' trust bundles) at <paramref name="Path"/> on listener <paramref name="Listener"/>, with
/// <paramref name="RefreshHint"/> as <c>spiffe_refresh_hint</c>.
/// </summary>
public sealed record BundleEndpointSettings(string Listener, string Path, string TrustDomain, TimeSpan RefreshHint)
{
    public const string DefaultPath = "/bundle";

    public static readonly TimeSpan DefaultRefreshHint = TimeSpan.FromMinutes(5);
}
