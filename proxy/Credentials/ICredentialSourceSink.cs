namespace SecretlessProxy.Credentials;

/// <summary>
/// Per request: told by the broker where the credential it serves came from and when it expires. The request's
/// decision record implements it, so the answer costs no allocation.
/// </summary>
public interface ICredentialSourceSink
{
    void Served(CredentialSource source, DateTimeOffset? expiresAt);
}
