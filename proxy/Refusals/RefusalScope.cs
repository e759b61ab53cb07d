namespace SecretlessProxy.Refusals;

/// <summary>Where a refusal can be answered: on proxy listeners, on the admin listener, or both.</summary>
[Flags]
public enum RefusalScope
{
    Proxy = 1,
    Admin = 2,
    Both = Proxy | Admin,
}
