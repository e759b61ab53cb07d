namespace SecretlessProxy.Listeners;

/// <summary>What a listener serves: proxied calls from workloads (mTLS), or the admin endpoints.</summary>
public enum ListenerRole
{
    Proxy,
    Admin,
}
