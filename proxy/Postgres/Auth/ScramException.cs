namespace SecretlessProxy.Postgres.Auth;

/// <summary>
/// A SCRAM exchange with a PostgreSQL server failed: the server's message was malformed or unacceptable, the server
/// reported an error, or it could not prove that it knows the password's verifier. The message never holds the
/// password or anything derived from it.
/// </summary>
public sealed class ScramException : Exception
{
    public ScramException()
        : base("the SCRAM exchange failed")
    {
    }

    public ScramException(string message)
        : base(message)
    {
    }

    public ScramException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
