using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Tests.Postgres;

/// <summary>
/// The server side of SCRAM-SHA-256 written out from RFC 5802 §3 with .NET's primitives, independently of the
/// client under test, for exchanges the RFC gives no vector for (channel binding, the y flag). ASCII passwords only
/// (no SASLprep here).
/// </summary>
internal sealed class TestScramServer(string password, string serverNonce = "3rfcNHYJY1ZVvWVs7j", int iterations = 4096)
{
    private readonly byte[] _salt = RandomNumberGenerator.GetBytes(16);
    private string _clientFirstBare = "";
    private string _serverFirst = "";

    /// <summary>The gs2 header the client sent.</summary>
    public string Gs2Header { get; private set; } = "";

    public string ServerFirst(byte[] clientFirst, string extensions = "")
    {
        var text = Encoding.UTF8.GetString(clientFirst);
        // gs2-header = cbind-flag "," [authzid] ","; the bare message follows the second comma.
        var second = text.IndexOf(',', text.IndexOf(',', StringComparison.Ordinal) + 1);
        Gs2Header = text[..(second + 1)];
        _clientFirstBare = text[(second + 1)..];
        var clientNonce = _clientFirstBare.Split(',').Single(a => a.StartsWith("r=", StringComparison.Ordinal))[2..];
        _serverFirst = $"r={clientNonce}{serverNonce},s={Convert.ToBase64String(_salt)},i={iterations}{extensions}";
        return _serverFirst;
    }

    /// <summary>Checks c= against the gs2 header and <paramref name="binding"/>, and the proof; returns server-final.</summary>
    public string ServerFinal(byte[] clientFinal, byte[]? binding)
    {
        var text = Encoding.UTF8.GetString(clientFinal);
        var proofAt = text.LastIndexOf(",p=", StringComparison.Ordinal);
        var withoutProof = text[..proofAt];
        var proof = Convert.FromBase64String(text[(proofAt + 3)..]);
        var channel = Convert.FromBase64String(withoutProof.Split(',')[0][2..]);
        Assert.Equal([.. Encoding.ASCII.GetBytes(Gs2Header), .. binding ?? []], channel);

        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), _salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, Encoding.ASCII.GetBytes("Client Key"));
        var storedKey = SHA256.HashData(clientKey);
        var serverKey = HMACSHA256.HashData(salted, Encoding.ASCII.GetBytes("Server Key"));
        var authMessage = Encoding.UTF8.GetBytes($"{_clientFirstBare},{_serverFirst},{withoutProof}");
        var clientSignature = HMACSHA256.HashData(storedKey, authMessage);
        var recoveredKey = proof.Zip(clientSignature, (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(storedKey, SHA256.HashData(recoveredKey));
        return "v=" + Convert.ToBase64String(HMACSHA256.HashData(serverKey, authMessage));
    }
}
