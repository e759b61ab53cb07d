namespace SecretlessProxy.Audit;

/// <summary>What happens when a proxied request completes: its decision record goes to the audit trail.</summary>
internal sealed class RequestAudit(DecisionLog log)
{
    public void Completed(DecisionRecord record) => log.Write(record);
}
