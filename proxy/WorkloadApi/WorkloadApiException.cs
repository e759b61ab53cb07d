namespace SecretlessProxy.WorkloadApi;

/// <summary>The Workload API could not give what was asked (the message says why; it never holds a token or a key).</summary>
public sealed class WorkloadApiException : Exception
{
    public WorkloadApiException()
    {
    }

    public WorkloadApiException(string message) : base(message)
    {
    }

    public WorkloadApiException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
