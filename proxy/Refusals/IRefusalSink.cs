namespace SecretlessProxy.Refusals;

/// <summary>What records a refusal beside the answer (the request's decision record): one call, so the answer and the audit fields never disagree.</summary>
public interface IRefusalSink
{
    void Refused(Refusal refusal);
}
