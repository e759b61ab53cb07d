using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace SecretlessProxy.Abstractions;

/// <summary>
/// The one resilience pipeline every issuer or store client uses (OAuth2 token endpoints, Vault, AWS Secrets Manager,
/// Azure Key Vault, Google Secret Manager): two retries with jittered exponential backoff from 200 ms, then a circuit
/// breaker that opens for 15 s when half of at least six calls in 30 s failed, then the per-call timeout. What counts
/// as transient is the caller's: its predicate sees the exceptions and results it knows (the HTTP store clients share
/// <see cref="HttpTransient"/>, <see cref="IsOutageStatus"/> and <see cref="IsUnreachable"/>).
/// </summary>
public static class IssuerResilience
{
    /// <summary>Builds the pipeline.</summary>
    /// <param name="transient">Which outcomes are retried and counted against the circuit.</param>
    /// <param name="timeout">The timeout of one attempt.</param>
    /// <param name="time">The clock (tests advance it).</param>
    /// <param name="circuit">Receives the breaker's state, for metrics; null when nobody reads it.</param>
    /// <param name="discardRetried">Called with a result that is about to be retried (e.g. to dispose a response).</param>
    /// <param name="breaker">False: no circuit breaker (calls whose failures must never hold back others, such as revocations).</param>
    /// <param name="retries">How many times a transient failure is retried (0 to 10).</param>
    public static ResiliencePipeline<T> Build<T>(
        PredicateBuilder<T> transient,
        TimeSpan timeout,
        TimeProvider time,
        CircuitBreakerStateProvider? circuit = null,
        Action<T>? discardRetried = null,
        bool breaker = true,
        int retries = 2)
    {
        ArgumentNullException.ThrowIfNull(transient);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegative(retries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(retries, 10);
        var builder = new ResiliencePipelineBuilder<T> { TimeProvider = time };
        if (retries == 0)
        {
            return AddBreakerAndTimeout(builder, transient, timeout, circuit, breaker);
        }
        var retry = new RetryStrategyOptions<T>
        {
            ShouldHandle = transient,
            MaxRetryAttempts = retries,
            Delay = TimeSpan.FromMilliseconds(200),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        };
        if (discardRetried is not null)
        {
            retry.OnRetry = args =>
            {
                if (args.Outcome.Result is { } result)
                {
                    discardRetried(result);
                }
                return ValueTask.CompletedTask;
            };
        }
        return AddBreakerAndTimeout(builder.AddRetry(retry), transient, timeout, circuit, breaker);
    }

    /// <summary>
    /// The transient outcomes of a store client calling over plain HTTP through a pipeline built here: network errors,
    /// an attempt's timeout, a body cut short (<see cref="IOException"/>), and the results <paramref name="isOutage"/> names.
    /// </summary>
    public static PredicateBuilder<T> HttpTransient<T>(Func<T, bool> isOutage) =>
        new PredicateBuilder<T>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().Handle<IOException>().HandleResult(isOutage);

    /// <summary>An HTTP status that means the service is down or shedding load (429, 5xx), as opposed to refusing the call.</summary>
    public static bool IsOutageStatus(int status) => status is 429 or >= 500;

    /// <summary>
    /// Whether <paramref name="exception"/>, thrown out of a pipeline built here, means the service could not be reached
    /// (a network error, every attempt timed out, the circuit is open, the HTTP client gave up) rather than the caller
    /// cancelling through <paramref name="cancellationToken"/>.
    /// </summary>
    public static bool IsUnreachable(Exception exception, CancellationToken cancellationToken) =>
        exception is HttpRequestException or TimeoutRejectedException or IOException or BrokenCircuitException
        || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static ResiliencePipeline<T> AddBreakerAndTimeout<T>(ResiliencePipelineBuilder<T> builder, PredicateBuilder<T> transient, TimeSpan timeout, CircuitBreakerStateProvider? circuit, bool breaker)
    {
        if (breaker)
        {
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<T>
            {
                ShouldHandle = transient,
                FailureRatio = 0.5,
                MinimumThroughput = 6,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(15),
                StateProvider = circuit,
            });
        }
        return builder.AddTimeout(timeout).Build();
    }

    /// <summary>The breaker's state as the proxy's metrics name it.</summary>
    public static CircuitState StateOf(CircuitBreakerStateProvider circuit)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        return circuit.CircuitState switch
        {
            Polly.CircuitBreaker.CircuitState.Open => CircuitState.Open,
            Polly.CircuitBreaker.CircuitState.HalfOpen => CircuitState.HalfOpen,
            Polly.CircuitBreaker.CircuitState.Isolated => CircuitState.Isolated,
            _ => CircuitState.Closed,
        };
    }
}
