namespace SecretlessProxy.Audit;

public enum DecisionSink
{
    Stdout,
    File,
    None,
}
