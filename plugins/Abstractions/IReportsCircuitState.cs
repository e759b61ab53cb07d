namespace SecretlessProxy.Abstractions;

/// <summary>A provider that guards its issuer with a circuit breaker and reports the breaker's state (for metrics).</summary>
public interface IReportsCircuitState
{
    /// <summary>The breaker's state right now.</summary>
    CircuitState CircuitState { get; }
}
