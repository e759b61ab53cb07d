namespace SecretlessProxy.Refusals;

/// <summary>Where a refusal can be answered: on HTTP proxy listeners, on the admin listener, on database gateway listeners.</summary>
[Flags]
public enum RefusalScope
{
    Proxy = 1,
    Admin = 2,
    Both = Proxy | Admin,

    /// <summary>The database gateway, which answers with an <c>ErrorResponse</c> carrying <see cref="Refusal.SqlState"/>.</summary>
    Database = 4,
}
