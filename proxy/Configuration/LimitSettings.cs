namespace SecretlessProxy.Configuration;

/// <summary>The <c>limits</c> section.</summary>
/// <param name="MaxBufferedBodyBytes">Request-body bytes all requests together may hold in memory for signing.</param>
public sealed record LimitSettings(long MaxBufferedBodyBytes)
{
    public static readonly LimitSettings Default = new(Injection.BodyBufferBudget.DefaultLimit);
}
