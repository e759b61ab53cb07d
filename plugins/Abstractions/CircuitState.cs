namespace SecretlessProxy.Abstractions;

/// <summary>The state of a provider's circuit breaker.</summary>
public enum CircuitState
{
    /// <summary>Calls flow.</summary>
    Closed = 0,

    /// <summary>Trial calls are let through to see whether the issuer recovered.</summary>
    HalfOpen = 1,

    /// <summary>Calls are refused without contacting the issuer.</summary>
    Open = 2,

    /// <summary>Held open by hand.</summary>
    Isolated = 3,
}
