namespace SecretlessProxy.Listeners;

/// <summary>What a listener serves: proxied calls from workloads (mTLS), or the admin endpoints.</summary>
public enum ListenerRole
{
    Proxy,
    Admin,
}

/// <summary>What the web console on an admin listener (<c>console:</c>) allows: nothing, reading, or reading and answering.</summary>
public enum ConsoleMode
{
    /// <summary>The console serves pages and its forms (approve, deny, revoke), with the admin API's authentication.</summary>
    ReadWrite,

    /// <summary>Pages only: no form is shown and every console POST is refused.</summary>
    ReadOnly,

    /// <summary>No console: <c>/console</c> is not an endpoint.</summary>
    Off,
}
