using System.Text.Json;

namespace SecretlessProxy.Audit;

/// <summary>One line of the audit trail: a request's decision, or a lifecycle event. Names and codes only, never a secret.</summary>
public abstract class AuditRecord
{
    /// <summary>Writes the record as one JSON object (no trailing newline).</summary>
    public abstract void WriteTo(Utf8JsonWriter json);
}
