namespace SecretlessProxy.Identity;

/// <summary>Stable reason codes for a refused client certificate (they appear in 401 bodies, logs and records).</summary>
public static class SvidRefusal
{
    public const string NoCertificate = "client_certificate_required";
    public const string SanMalformed = "san_malformed";
    public const string UriSanMissing = "uri_san_missing";
    public const string UriSanMultiple = "uri_san_multiple";
    public const string SpiffeIdInvalid = "spiffe_id_invalid";
    public const string SpiffeIdRootPath = "spiffe_id_root_path";
    public const string LeafIsCa = "leaf_is_ca";
    public const string KeyUsageMissing = "key_usage_missing";
    public const string KeyUsageNoDigitalSignature = "key_usage_no_digital_signature";
    public const string KeyUsageCaBits = "key_usage_cert_sign";
    public const string EkuNoClientAuth = "eku_no_client_auth";
    public const string NotYetValid = "certificate_not_yet_valid";
    public const string Expired = "certificate_expired";
    public const string TrustDomainUnknown = "trust_domain_unknown";
    public const string ChainUntrusted = "chain_untrusted";
}
