using SecretlessProxy.Inventory;
using SecretlessProxy.Metrics;

using SecretlessProxy.Audit;

namespace SecretlessProxy.Pipeline;

/// <summary>What happens when a proxied request completes: metrics and live usage are recorded and its decision record goes to the audit trail.</summary>
internal sealed class RequestAudit(DecisionLog log, ProxyMetrics metrics, UsageTracker usage)
{
    public void Completed(DecisionRecord record)
    {
        metrics.RequestCompleted(record);
        usage.Record(record);
        log.Write(record);
    }
}
