using SecretlessProxy.Metrics;

namespace SecretlessProxy.Audit;

/// <summary>What happens when a proxied request completes: metrics are recorded and its decision record goes to the audit trail.</summary>
internal sealed class RequestAudit(DecisionLog log, ProxyMetrics metrics)
{
    public void Completed(DecisionRecord record)
    {
        metrics.RequestCompleted(record);
        log.Write(record);
    }
}
