using SecretlessProxy.Abstractions;

namespace SecretlessProxy.DynamicUsers;

/// <summary>Where the admin password is: a file (read for every admin session, so a rotation is seen) or an environment variable.</summary>
internal sealed record AdminPassword(string? File, string? Variable)
{
    private const int MaxLength = 64 * 1024;

    public string Read(string credential)
    {
        string? value;
        if (File is { } path)
        {
            try
            {
                var info = new FileInfo(path);
                if (info.Exists && info.Length > MaxLength)
                {
                    throw new CredentialUnavailableException(credential, $"the admin password file '{path}' is larger than 64 KiB");
                }
                value = System.IO.File.ReadAllText(path).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CredentialUnavailableException(credential, $"cannot read the admin password file '{path}' ({ex.GetType().Name})");
            }
            if (value.Length == 0)
            {
                throw new CredentialUnavailableException(credential, $"the admin password file '{path}' is empty");
            }
            return value;
        }
        value = Environment.GetEnvironmentVariable(Variable!);
        return string.IsNullOrEmpty(value) ? throw new CredentialUnavailableException(credential, $"environment variable '{Variable}' (the admin password) is not set") : value;
    }
}
