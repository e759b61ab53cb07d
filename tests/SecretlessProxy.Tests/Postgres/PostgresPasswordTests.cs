using System.Security.Cryptography;
using System.Text;
using SecretlessProxy.Postgres.Auth;

namespace SecretlessProxy.Tests.Postgres;

public sealed class PostgresPasswordTests
{
    [Fact]
    public void Md5_response_matches_a_value_computed_with_md5sum()
    {
        // inner=$(printf '%s' 'secretpostgres' | md5sum | cut -d' ' -f1)   # md5(password + user) = 53f48b7c4b76a86ce72276c5755f217d
        // printf '%s\x01\x02\x03\x04' "$inner" | md5sum                    # bb41a296aab6baccb36ff243a562abff
        var response = PostgresPassword.Md5Response("postgres", "secret", [1, 2, 3, 4]);
        Assert.Equal("md5bb41a296aab6baccb36ff243a562abff", Encoding.ASCII.GetString(response));
        Assert.Equal(35, response.Length); // no terminating NUL
    }

    [Fact]
    public void Md5_response_uses_the_password_and_user_as_UTF8()
    {
        // inner=$(printf '%s' 'pässuser' | md5sum | cut -d' ' -f1)   # (a UTF-8 shell) e71b7442fc277a1ba795a78daf1e4f6e
        // printf '%s\xff\x00\x10\x7f' "$inner" | md5sum              # 2e1dd09978f011da29c144ec69387e6c
        Assert.Equal("md52e1dd09978f011da29c144ec69387e6c", Encoding.ASCII.GetString(PostgresPassword.Md5Response("user", "p\u00e4ss", [0xFF, 0x00, 0x10, 0x7F])));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(5)]
    public void Md5_response_needs_a_4_byte_salt(int length) =>
        Assert.Throws<ArgumentException>(() => PostgresPassword.Md5Response("postgres", "secret", new byte[length]));

    [Fact]
    public void Scram_verifier_with_the_RFC_7677_salt_holds_the_keys_of_the_exchange()
    {
        var vector = ScramVectors.Rfc7677();
        var salt = Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ==");
        var verifier = PostgresPassword.ScramVerifier(vector.Password, 4096, salt);

        var parts = verifier.Split('$');
        Assert.Equal(["SCRAM-SHA-256", "4096:W22ZaJ0SNY7soEsUEjb6gQ==", parts[2]], parts);
        var keys = parts[2].Split(':');
        var storedKey = Convert.FromBase64String(keys[0]);
        var serverKey = Convert.FromBase64String(keys[1]);

        // AuthMessage = client-first-message-bare "," server-first-message "," client-final-message-without-proof.
        var withoutProof = vector.ClientFinal[..vector.ClientFinal.LastIndexOf(",p=", StringComparison.Ordinal)];
        var authMessage = Encoding.UTF8.GetBytes($"{vector.ClientFirst[3..]},{vector.ServerFirst},{withoutProof}");
        // The ServerKey gives the server signature of the vector...
        Assert.Equal(vector.ServerFinal[2..], Convert.ToBase64String(HMACSHA256.HashData(serverKey, authMessage)));
        // ...and the StoredKey checks the vector's proof: ClientKey = proof XOR HMAC(StoredKey, AuthMessage), H(ClientKey) = StoredKey.
        var proof = Convert.FromBase64String(vector.ClientFinal[(vector.ClientFinal.LastIndexOf(",p=", StringComparison.Ordinal) + 3)..]);
        var clientKey = proof.Zip(HMACSHA256.HashData(storedKey, authMessage), (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(storedKey, SHA256.HashData(clientKey));
    }

    [Theory]
    [MemberData(nameof(PostgresVerifiers))]
    public void Scram_verifier_matches_what_PostgreSQL_made_for_the_same_salt(string what, string password, string serverVerifier)
    {
        var head = serverVerifier.Split('$')[1].Split(':');
        var verifier = PostgresPassword.ScramVerifier(password, int.Parse(head[0], System.Globalization.CultureInfo.InvariantCulture), Convert.FromBase64String(head[1]));
        Assert.True(serverVerifier == verifier, $"{what}: expected {serverVerifier}, got {verifier}");
    }

    public static TheoryData<string, string, string> PostgresVerifiers() => ScramVectors.PostgresVerifiers();

    [Fact]
    public void The_PostgreSQL_verifier_file_is_present() => Assert.True(PostgresVerifiers().Count >= 20);

    [Fact]
    public void Scram_verifier_defaults_to_16_random_bytes_of_salt_and_4096_iterations()
    {
        var first = PostgresPassword.ScramVerifier("pencil");
        var second = PostgresPassword.ScramVerifier("pencil");
        Assert.NotEqual(first, second);
        var head = first.Split('$')[1].Split(':');
        Assert.Equal("4096", head[0]);
        Assert.Equal(16, Convert.FromBase64String(head[1]).Length);
        Assert.Matches(@"^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$", first);
    }

    [Fact]
    public void Scram_verifier_checks_its_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PostgresPassword.ScramVerifier("pencil", 4095));
        Assert.Throws<ArgumentOutOfRangeException>(() => PostgresPassword.ScramVerifier("pencil", 10_000_001));
        Assert.Throws<ArgumentException>(() => PostgresPassword.ScramVerifier("pencil", 4096, []));
        Assert.Throws<ArgumentException>(() => PostgresPassword.ScramVerifier("pen\0cil"));
        Assert.StartsWith("SCRAM-SHA-256$5000:", PostgresPassword.ScramVerifier("pencil", 5000), StringComparison.Ordinal);
    }

    [Fact]
    public void A_verifier_and_the_client_agree()
    {
        // The verifier's keys are what a server would check the client's proof against.
        var salt = RandomNumberGenerator.GetBytes(16);
        var keys = PostgresPassword.ScramVerifier("p\u00e4ss w\u00f6rd", 4096, salt).Split('$')[2].Split(':');
        var client = new ScramSha256Client("p\u00e4ss w\u00f6rd", clientNonce: "abc");
        client.ClientFirstMessage();
        var serverFirst = $"r=abcdef,s={Convert.ToBase64String(salt)},i=4096";
        var final = Encoding.UTF8.GetString(client.ClientFinalMessage(Encoding.UTF8.GetBytes(serverFirst)));
        var withoutProof = final[..final.LastIndexOf(",p=", StringComparison.Ordinal)];
        var authMessage = Encoding.UTF8.GetBytes($"n=,r=abc,{serverFirst},{withoutProof}");
        var proof = Convert.FromBase64String(final[(final.LastIndexOf(",p=", StringComparison.Ordinal) + 3)..]);
        var clientKey = proof.Zip(HMACSHA256.HashData(Convert.FromBase64String(keys[0]), authMessage), (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(Convert.FromBase64String(keys[0]), SHA256.HashData(clientKey));
        client.VerifyServerFinal(Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(keys[1]), authMessage))));
        Assert.True(client.IsComplete);
    }

    [Theory]
    // RFC 4013 section 3's examples (the two errors fall back to the raw password, as PostgreSQL does).
    [InlineData("I\u00ADX", "IX")]
    [InlineData("user", "user")]
    [InlineData("USER", "USER")]
    [InlineData("\u00AA", "a")]
    [InlineData("\u2168", "IX")]
    [InlineData("\u0007", "\u0007")]
    [InlineData("\u0627\u0031", "\u0627\u0031")]
    // Spaces, mapped to nothing, NFKC.
    [InlineData("a\u00A0b", "a b")]
    [InlineData("\u3000x\u2002", " x ")]
    [InlineData("\u200Bab", " ab")]
    [InlineData("a\u00ADb\uFEFFc\u200Dd", "abcd")]
    [InlineData("\uFF50\uFF41\uFF53\uFF53", "pass")]
    [InlineData("\uFB01x", "fix")]
    [InlineData("e\u0301", "\u00E9")]
    // Fallbacks to the raw password: empty after mapping, prohibited, unassigned in Unicode 3.2 (checked before
    // normalization, like PostgreSQL), bidi violations.
    [InlineData("\u00AD", "\u00AD")]
    [InlineData("\uFE0F\u00AD", "\uFE0F\u00AD")]
    [InlineData("a\uE000", "a\uE000")]
    [InlineData("a\u0340", "a\u0340")]
    [InlineData("x\u0221", "x\u0221")]
    [InlineData("\U0001F100", "\U0001F100")]
    [InlineData("\u05D0a\u05D0", "\u05D0a\u05D0")]
    [InlineData("\u0627\u0031\u0628", "\u0627\u0031\u0628")]
    // A pure ASCII password is never changed, even with control characters.
    [InlineData("tab\there", "tab\there")]
    public void SaslPrep_behaves_as_PostgreSQL(string password, string expected) =>
        Assert.Equal(expected, PostgresPassword.SaslPrep(password));

    [Fact]
    public void SaslPrep_returns_a_string_with_a_lone_surrogate_unchanged()
    {
        var broken = "ab\uD800c\u00AA";
        Assert.Same(broken, PostgresPassword.SaslPrep(broken));
    }
}
