using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>
/// The client side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677) as PostgreSQL speaks it: the
/// username in client-first is empty (PostgreSQL takes the user of the startup message) and the only channel binding
/// is <c>tls-server-end-point</c> (RFC 5929, see <see cref="TlsServerEndPoint"/>). One instance is one exchange:
/// <see cref="ClientFirstMessage"/> (the data of SASLInitialResponse), <see cref="ClientFinalMessage"/> (answers
/// AuthenticationSASLContinue with SASLResponse), <see cref="VerifyServerFinal"/> (checks AuthenticationSASLFinal).
/// The caller must not accept AuthenticationOk before <see cref="IsComplete"/> is true. Not thread-safe.
/// </summary>
public sealed class ScramSha256Client
{
    /// <summary>The SASL mechanism without channel binding.</summary>
    public const string ScramSha256 = "SCRAM-SHA-256";

    /// <summary>The SASL mechanism with <c>tls-server-end-point</c> channel binding.</summary>
    public const string ScramSha256Plus = "SCRAM-SHA-256-PLUS";

    /// <summary>The fewest PBKDF2 iterations accepted from a server (RFC 7677 §4's minimum, PostgreSQL's default).</summary>
    public const int MinIterations = 4096;

    /// <summary>The most PBKDF2 iterations accepted from a server: more would hold a connection for seconds of CPU.</summary>
    public const int MaxIterations = 10_000_000;

    private const int NonceBytes = 24;

    private readonly byte[] _gs2Header;
    private readonly byte[]? _channelBinding;
    private readonly string _clientNonce;
    private readonly byte[] _clientFirstBare;
    private string? _password;
    private byte[]? _serverSignature;
    private Step _step;

    /// <summary>Starts an exchange.</summary>
    /// <param name="password">The role's password (SASLprep is applied as PostgreSQL does, see <see cref="PostgresPassword.SaslPrep"/>).</param>
    /// <param name="channelBinding">Null for SCRAM-SHA-256; the <c>tls-server-end-point</c> data of the TLS connection
    /// (<see cref="TlsServerEndPoint.Hash"/>) for SCRAM-SHA-256-PLUS.</param>
    /// <param name="clientNonce">For tests only: the client nonce (printable ASCII without ','); by default 24 random
    /// bytes in base64.</param>
    /// <param name="channelBindingSupported">With <paramref name="channelBinding"/> null: true when the client could bind
    /// to the channel but the server offered no -PLUS mechanism (gs2 header <c>y,,</c>, so that a server which does
    /// support binding sees the downgrade and refuses), false otherwise (<c>n,,</c>).</param>
    public ScramSha256Client(string password, byte[]? channelBinding = null, string? clientNonce = null, bool channelBindingSupported = false)
        : this(password, channelBinding, clientNonce, channelBindingSupported, user: "")
    {
    }

    /// <summary>As the public constructor, with the username of client-first set (PostgreSQL sends it empty).</summary>
    internal ScramSha256Client(string password, byte[]? channelBinding, string? clientNonce, bool channelBindingSupported, string user)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(user);
        PostgresPassword.RefuseNul(password);
        if (channelBinding is { Length: 0 })
        {
            throw new ArgumentException("the channel binding data must not be empty", nameof(channelBinding));
        }
        if (clientNonce is not null && (clientNonce.Length == 0 || !IsPrintable(clientNonce)))
        {
            throw new ArgumentException("the client nonce must be printable ASCII without ','", nameof(clientNonce));
        }
        _password = password;
        _channelBinding = channelBinding?.ToArray();
        _clientNonce = clientNonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(NonceBytes));
        _gs2Header = channelBinding is not null ? "p=tls-server-end-point,,"u8.ToArray()
            : channelBindingSupported ? "y,,"u8.ToArray()
            : "n,,"u8.ToArray();
        var saslName = user.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);
        _clientFirstBare = Encoding.UTF8.GetBytes($"n={saslName},r={_clientNonce}");
    }

    /// <summary>
    /// The client for what the server offered in AuthenticationSASL: SCRAM-SHA-256-PLUS when it is offered and
    /// <paramref name="channelBinding"/> is known, else SCRAM-SHA-256 (with <c>y,,</c> when the binding is known but
    /// the server offered no -PLUS).
    /// </summary>
    /// <param name="password">The role's password.</param>
    /// <param name="offeredMechanisms">The mechanism names of AuthenticationSASL.</param>
    /// <param name="channelBinding">The <c>tls-server-end-point</c> data when the connection is TLS and
    /// <see cref="TlsServerEndPoint.Hash"/> gave it; null otherwise.</param>
    /// <param name="requireChannelBinding">Refuse to go on without channel binding (libpq's <c>channel_binding=require</c>).</param>
    /// <exception cref="ScramException">No usable mechanism is offered.</exception>
    public static ScramSha256Client ForMechanisms(string password, IEnumerable<string> offeredMechanisms, byte[]? channelBinding, bool requireChannelBinding = false)
    {
        ArgumentNullException.ThrowIfNull(offeredMechanisms);
        var offered = offeredMechanisms.ToHashSet(StringComparer.Ordinal);
        if (channelBinding is not null && offered.Contains(ScramSha256Plus))
        {
            return new ScramSha256Client(password, channelBinding);
        }
        if (requireChannelBinding)
        {
            throw new ScramException(channelBinding is null
                ? "channel binding is required but the connection gives no tls-server-end-point data"
                : "channel binding is required but the server does not offer " + ScramSha256Plus);
        }
        if (offered.Contains(ScramSha256))
        {
            return new ScramSha256Client(password, channelBindingSupported: channelBinding is not null);
        }
        throw new ScramException("the server offers no SCRAM-SHA-256 mechanism this client supports");
    }

    /// <summary>The SASL mechanism name for SASLInitialResponse: <c>SCRAM-SHA-256</c> or <c>SCRAM-SHA-256-PLUS</c>.</summary>
    public string Mechanism => _channelBinding is null ? ScramSha256 : ScramSha256Plus;

    /// <summary>True once <see cref="VerifyServerFinal"/> has accepted the server's signature.</summary>
    public bool IsComplete => _step == Step.Done;

    /// <summary>client-first-message: the gs2 header and client-first-message-bare (<c>n,,n=,r=&lt;nonce&gt;</c>), in UTF-8.</summary>
    public byte[] ClientFirstMessage()
    {
        if (_step is not (Step.Start or Step.FirstSent))
        {
            throw new InvalidOperationException("client-first belongs at the start of the exchange");
        }
        _step = Step.FirstSent;
        return [.. _gs2Header, .. _clientFirstBare];
    }

    /// <summary>
    /// client-final-message for the server's server-first-message: <c>c=&lt;binding&gt;,r=&lt;nonce&gt;,p=&lt;proof&gt;</c>, in UTF-8.
    /// </summary>
    /// <exception cref="ScramException">The message is malformed, asks for a mandatory extension (<c>m=</c>), its nonce
    /// does not extend the client's, its salt is not base64, or its iteration count is outside
    /// <see cref="MinIterations"/>..<see cref="MaxIterations"/>. The exchange is over then.</exception>
    public byte[] ClientFinalMessage(ReadOnlySpan<byte> serverFirstMessage)
    {
        if (_step != Step.FirstSent || _password is null)
        {
            throw new InvalidOperationException("client-final follows client-first, once");
        }
        _step = Step.Failed;
        var password = _password;
        _password = null;

        var text = Utf8(serverFirstMessage, "server-first-message");
        var attributes = ScramAttributes.Parse(text, "server-first-message");
        if (attributes[0].Name == 'm')
        {
            throw new ScramException("the server requires a SCRAM extension (m=) this client does not support");
        }
        if (attributes[0].Name == 'e')
        {
            throw new ScramException("the server reported a SCRAM error: " + ScramAttributes.Printable(attributes[0].Value));
        }
        if (attributes.Count < 3 || attributes[0].Name != 'r' || attributes[1].Name != 's' || attributes[2].Name != 'i')
        {
            throw new ScramException("malformed server-first-message: expected r=, s= and i=, in that order");
        }
        var nonce = attributes[0].Value;
        if (nonce.Length <= _clientNonce.Length || !nonce.StartsWith(_clientNonce, StringComparison.Ordinal) || !IsPrintable(nonce))
        {
            throw new ScramException("the server's nonce does not extend the client's nonce");
        }
        var salt = ScramAttributes.Base64(attributes[1].Value)
            ?? throw new ScramException("the server's salt is not base64");
        if (salt.Length == 0)
        {
            throw new ScramException("the server's salt is empty");
        }
        var iterations = Iterations(attributes[2].Value);

        var channel = Convert.ToBase64String(_channelBinding is null ? _gs2Header : [.. _gs2Header, .. _channelBinding]);
        var withoutProof = Encoding.UTF8.GetBytes($"c={channel},r={nonce}");
        byte[] authMessage = [.. _clientFirstBare, (byte)',', .. serverFirstMessage, (byte)',', .. withoutProof];

        Span<byte> clientKey = stackalloc byte[ScramKeys.Size];
        Span<byte> serverKey = stackalloc byte[ScramKeys.Size];
        Span<byte> storedKey = stackalloc byte[ScramKeys.Size];
        Span<byte> proof = stackalloc byte[ScramKeys.Size];
        try
        {
            ScramKeys.DeriveCached(password, salt, iterations, clientKey, serverKey);
            SHA256.HashData(clientKey, storedKey);
            HMACSHA256.HashData(storedKey, authMessage, proof);
            for (var i = 0; i < proof.Length; i++)
            {
                proof[i] ^= clientKey[i];
            }
            _serverSignature = HMACSHA256.HashData(serverKey, authMessage);
            var final = Encoding.UTF8.GetBytes($"c={channel},r={nonce},p={Convert.ToBase64String(proof)}");
            _step = Step.FinalSent;
            return final;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(clientKey);
            CryptographicOperations.ZeroMemory(serverKey);
            CryptographicOperations.ZeroMemory(storedKey);
            CryptographicOperations.ZeroMemory(proof);
        }
    }

    /// <summary>Checks server-final-message: <c>v=&lt;ServerSignature&gt;</c> must be what the server's key gives.</summary>
    /// <exception cref="ScramException">The server reported an error (<c>e=</c>; its value is in the message), the
    /// message is malformed, or the signature does not match (compared in constant time).</exception>
    public void VerifyServerFinal(ReadOnlySpan<byte> serverFinalMessage)
    {
        if (_step != Step.FinalSent || _serverSignature is null)
        {
            throw new InvalidOperationException("server-final is checked after client-final, once");
        }
        _step = Step.Failed;
        var expected = _serverSignature;
        _serverSignature = null;
        try
        {
            var attributes = ScramAttributes.Parse(Utf8(serverFinalMessage, "server-final-message"), "server-final-message");
            if (attributes[0].Name == 'e')
            {
                throw new ScramException("the server reported a SCRAM error: " + ScramAttributes.Printable(attributes[0].Value));
            }
            if (attributes[0].Name != 'v')
            {
                throw new ScramException("malformed server-final-message: expected v= or e=");
            }
            var signature = ScramAttributes.Base64(attributes[0].Value)
                ?? throw new ScramException("the server's signature is not base64");
            if (!CryptographicOperations.FixedTimeEquals(signature, expected))
            {
                throw new ScramException("the server's signature does not match: it does not know this password's verifier");
            }
            _step = Step.Done;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(expected);
        }
    }

    private static string Utf8(ReadOnlySpan<byte> message, string what)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(message);
        }
        catch (DecoderFallbackException e)
        {
            throw new ScramException($"malformed {what}: not UTF-8", e);
        }
    }

    /// <summary>posit-number: a decimal without sign or leading zero.</summary>
    private static int Iterations(string value)
    {
        if (value.Length == 0 || value[0] is < '1' or > '9' || !value.All(char.IsAsciiDigit))
        {
            throw new ScramException("the server's iteration count is not a positive number");
        }
        var count = value.Length > 9 ? int.MaxValue : int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        if (count > MaxIterations)
        {
            throw new ScramException($"the server's iteration count is absurdly high (more than {MaxIterations})");
        }
        if (count < MinIterations)
        {
            throw new ScramException($"the server's iteration count {count} is below the minimum of {MinIterations}");
        }
        return count;
    }

    /// <summary>printable in RFC 5802: %x21-2B / %x2D-7E (visible ASCII except ',').</summary>
    private static bool IsPrintable(string value) => value.All(c => c is >= '!' and <= '~' and not ',');

    private enum Step
    {
        Start,
        FirstSent,
        FinalSent,
        Done,
        Failed,
    }
}
