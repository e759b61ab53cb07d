using System.Text;
using SecretlessProxy.Postgres.Auth;

namespace SecretlessProxy.Tests.Postgres;

public sealed class ScramTests
{
    private const string Password = "pencil-Sécret-7f3a";
    private const string Nonce = "rOprNGfwEbeRWgbNEkqO";
    private const string Salt = "W22ZaJ0SNY7soEsUEjb6gQ==";

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>A client that has sent client-first with <see cref="Nonce"/>.</summary>
    private static ScramSha256Client Started(string password = Password, byte[]? binding = null, bool supported = false)
    {
        var client = new ScramSha256Client(password, binding, Nonce, supported);
        client.ClientFirstMessage();
        return client;
    }

    [Fact]
    public void The_RFC_7677_exchange_is_reproduced_byte_for_byte()
    {
        var vector = ScramVectors.Rfc7677();
        var nonce = vector.ClientFirst.Split(',').Single(a => a.StartsWith("r=", StringComparison.Ordinal))[2..];
        var client = new ScramSha256Client(vector.Password, null, nonce, channelBindingSupported: false, user: vector.User);

        Assert.Equal("SCRAM-SHA-256", client.Mechanism);
        Assert.Equal(vector.ClientFirst, Text(client.ClientFirstMessage()));
        Assert.Equal(vector.ClientFinal, Text(client.ClientFinalMessage(Utf8(vector.ServerFirst))));
        Assert.False(client.IsComplete);
        client.VerifyServerFinal(Utf8(vector.ServerFinal));
        Assert.True(client.IsComplete);
    }

    [Fact]
    public void Client_first_carries_an_empty_username_as_PostgreSQL_expects()
    {
        var client = new ScramSha256Client("pencil", clientNonce: Nonce);
        Assert.Equal("n,,n=,r=" + Nonce, Text(client.ClientFirstMessage()));
    }

    [Fact]
    public void The_internal_username_is_encoded_as_a_saslname()
    {
        var client = new ScramSha256Client("pencil", null, Nonce, false, user: "a=b,c");
        Assert.Equal("n,,n=a=3Db=2Cc,r=" + Nonce, Text(client.ClientFirstMessage()));
    }

    [Fact]
    public void The_default_nonce_is_24_random_bytes_in_base64()
    {
        static string NonceOf(ScramSha256Client client) => Text(client.ClientFirstMessage())["n,,n=,r=".Length..];
        var first = NonceOf(new ScramSha256Client("pencil"));
        var second = NonceOf(new ScramSha256Client("pencil"));
        Assert.Equal(24, Convert.FromBase64String(first).Length);
        Assert.NotEqual(first, second);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a,b")]
    [InlineData("a b")]
    [InlineData("caf\u00e9")]
    public void A_nonce_that_is_not_printable_is_refused(string nonce) =>
        Assert.Throws<ArgumentException>(() => new ScramSha256Client("pencil", clientNonce: nonce));

    [Fact]
    public void A_tampered_server_signature_is_refused()
    {
        var vector = ScramVectors.Rfc7677();
        var client = new ScramSha256Client(vector.Password, null, Nonce, false, user: vector.User);
        client.ClientFirstMessage();
        client.ClientFinalMessage(Utf8(vector.ServerFirst));
        var signature = Convert.FromBase64String(vector.ServerFinal[2..]);
        signature[^1] ^= 1;

        var e = Assert.Throws<ScramException>(() => client.VerifyServerFinal(Utf8("v=" + Convert.ToBase64String(signature))));
        Assert.Contains("signature does not match", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(vector.ServerFinal[2..], e.Message, StringComparison.Ordinal);
        Assert.False(client.IsComplete);
    }

    [Fact]
    public void A_server_signature_of_the_wrong_length_is_refused()
    {
        var client = Started();
        client.ClientFinalMessage(Utf8($"r={Nonce}xyz,s={Salt},i=4096"));
        Assert.Throws<ScramException>(() => client.VerifyServerFinal(Utf8("v=AAAA")));
    }

    [Fact]
    public void A_server_error_is_reported_with_its_value()
    {
        var client = Started();
        client.ClientFinalMessage(Utf8($"r={Nonce}xyz,s={Salt},i=4096"));
        var e = Assert.Throws<ScramException>(() => client.VerifyServerFinal("e=invalid-proof"u8));
        Assert.Contains("invalid-proof", e.Message, StringComparison.Ordinal);
        Assert.False(client.IsComplete);
    }

    [Fact]
    public void A_server_error_value_is_shown_with_harmless_characters_only()
    {
        var client = Started();
        client.ClientFinalMessage(Utf8($"r={Nonce}xyz,s={Salt},i=4096"));
        var e = Assert.Throws<ScramException>(() => client.VerifyServerFinal(Utf8("e=bad\u001b[31m\u2028" + new string('x', 500))));
        Assert.DoesNotContain('\u001b', e.Message);
        Assert.DoesNotContain('\u2028', e.Message);
        Assert.True(e.Message.Length < 300);
    }

    [Theory]
    [InlineData("r=someoneElsesNonce123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce")]
    [InlineData("r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce")]
    [InlineData("r=xrOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqO\u00e9,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000", "below the minimum")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", "below the minimum")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001", "absurd")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999", "absurd")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096", "positive number")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096", "positive number")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", "positive number")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096", "positive number")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22Z aJ0SNY7soEsUEjb6gQ==,i=4096", "base64")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096", "base64")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gR==,i=4096", "base64")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=@@@@,i=4096", "base64")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=,i=4096", "malformed")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,i=4096", "expected r=, s= and i=")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==", "expected r=, s= and i=")]
    [InlineData("s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOab,i=4096", "expected r=, s= and i=")]
    [InlineData("m=must-understand,r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extension (m=)")]
    [InlineData("e=other-error", "other-error")]
    [InlineData("", "malformed")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "malformed")]
    [InlineData("r=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", "malformed")]
    [InlineData("rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "malformed")]
    [InlineData("1=rOprNGfwEbeRWgbNEkqOab,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "malformed")]
    public void An_unacceptable_server_first_message_is_refused(string serverFirst, string reason)
    {
        var client = Started();
        var e = Assert.Throws<ScramException>(() => client.ClientFinalMessage(Utf8(serverFirst)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, e.ToString(), StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => client.ClientFinalMessage(Utf8(serverFirst)));
    }

    [Fact]
    public void A_server_first_message_that_is_not_UTF8_is_refused()
    {
        var client = Started();
        byte[] message = [.. Utf8($"r={Nonce}ab,s={Salt},i=4096,x="), 0xC3, 0x28];
        var e = Assert.Throws<ScramException>(() => client.ClientFinalMessage(message));
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Optional_extensions_after_the_iteration_count_are_ignored_and_signed_as_sent()
    {
        var server = new TestScramServer("pencil");
        var client = new ScramSha256Client("pencil");
        var final = client.ClientFinalMessage(Utf8(server.ServerFirst(client.ClientFirstMessage(), ",x=ignored,y=a=b")));
        client.VerifyServerFinal(Utf8(server.ServerFinal(final, null) + ",z=also-ignored"));
        Assert.True(client.IsComplete);
    }

    [Fact]
    public void Mandatory_extensions_are_refused()
    {
        var client = Started();
        var e = Assert.Throws<ScramException>(() => client.ClientFinalMessage(Utf8($"m=x,r={Nonce}ab,s={Salt},i=4096")));
        Assert.Contains("m=", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_password_is_never_in_an_exception_message()
    {
        const string secret = "Tr0ub4dor&3-\u00e9\u00e8";
        var messages = new List<string>();
        foreach (var serverFirst in new[] { $"r={Nonce}ab,s={Salt},i=1000", $"r=other,s={Salt},i=4096", $"r={Nonce}ab,s=!!,i=4096", "e=other-error", "garbage" })
        {
            var client = Started(secret);
            messages.Add(Assert.Throws<ScramException>(() => client.ClientFinalMessage(Utf8(serverFirst))).ToString());
        }
        foreach (var serverFinal in new[] { "v=" + Convert.ToBase64String(new byte[32]), "e=invalid-proof", "v=###", "x=1" })
        {
            var client = Started(secret);
            client.ClientFinalMessage(Utf8($"r={Nonce}ab,s={Salt},i=4096"));
            messages.Add(Assert.Throws<ScramException>(() => client.VerifyServerFinal(Utf8(serverFinal))).ToString());
        }
        messages.Add(Assert.Throws<ScramException>(() => ScramSha256Client.ForMechanisms(secret, ["SCRAM-SHA-1"], null)).ToString());
        Assert.All(messages, m => Assert.DoesNotContain(secret, m, StringComparison.Ordinal));
        Assert.All(messages, m => Assert.DoesNotContain(PostgresPassword.SaslPrep(secret), m, StringComparison.Ordinal));
    }

    [Fact]
    public void Channel_binding_uses_PLUS_and_binds_the_certificate_hash()
    {
        var binding = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var server = new TestScramServer("pencil");
        var client = new ScramSha256Client("pencil", binding);
        Assert.Equal("SCRAM-SHA-256-PLUS", client.Mechanism);

        var first = client.ClientFirstMessage();
        Assert.StartsWith("p=tls-server-end-point,,n=,r=", Text(first), StringComparison.Ordinal);
        var final = client.ClientFinalMessage(Utf8(server.ServerFirst(first)));
        var c = Text(final).Split(',')[0];
        Assert.Equal("c=" + Convert.ToBase64String([.. "p=tls-server-end-point,,"u8, .. binding]), c);
        client.VerifyServerFinal(Utf8(server.ServerFinal(final, binding)));
        Assert.True(client.IsComplete);
    }

    [Fact]
    public void The_y_flag_says_the_client_could_bind_but_the_server_offered_no_PLUS()
    {
        var server = new TestScramServer("pencil");
        var client = new ScramSha256Client("pencil", channelBindingSupported: true);
        Assert.Equal("SCRAM-SHA-256", client.Mechanism);

        var first = client.ClientFirstMessage();
        Assert.StartsWith("y,,n=,r=", Text(first), StringComparison.Ordinal);
        var final = client.ClientFinalMessage(Utf8(server.ServerFirst(first)));
        Assert.StartsWith("c=eSws,r=", Text(final), StringComparison.Ordinal);
        client.VerifyServerFinal(Utf8(server.ServerFinal(final, null)));
        Assert.True(client.IsComplete);
    }

    [Fact]
    public void Without_binding_c_is_biws_and_a_full_exchange_succeeds()
    {
        var server = new TestScramServer("pencil", iterations: 5000);
        var client = new ScramSha256Client("pencil");
        var final = client.ClientFinalMessage(Utf8(server.ServerFirst(client.ClientFirstMessage())));
        Assert.StartsWith("c=biws,r=", Text(final), StringComparison.Ordinal);
        client.VerifyServerFinal(Utf8(server.ServerFinal(final, null)));
        Assert.True(client.IsComplete);
    }

    [Fact]
    public void A_wrong_password_gives_a_proof_the_server_refuses()
    {
        var server = new TestScramServer("pencil");
        var client = new ScramSha256Client("pencil2");
        var final = client.ClientFinalMessage(Utf8(server.ServerFirst(client.ClientFirstMessage())));
        Assert.ThrowsAny<Exception>(() => server.ServerFinal(final, null));
    }

    [Fact]
    public void The_steps_must_come_in_order()
    {
        var client = new ScramSha256Client("pencil", clientNonce: Nonce);
        Assert.Throws<InvalidOperationException>(() => client.ClientFinalMessage(Utf8($"r={Nonce}ab,s={Salt},i=4096")));
        Assert.Throws<InvalidOperationException>(() => client.VerifyServerFinal("v=AAAA"u8));
        client.ClientFirstMessage();
        Assert.Throws<InvalidOperationException>(() => client.VerifyServerFinal("v=AAAA"u8));
        client.ClientFinalMessage(Utf8($"r={Nonce}ab,s={Salt},i=4096"));
        Assert.Throws<InvalidOperationException>(() => client.ClientFirstMessage());
        Assert.Throws<InvalidOperationException>(() => client.ClientFinalMessage(Utf8($"r={Nonce}ab,s={Salt},i=4096")));
        Assert.Throws<ScramException>(() => client.VerifyServerFinal("e=x"u8));
        Assert.Throws<InvalidOperationException>(() => client.VerifyServerFinal("e=x"u8));
    }

    [Fact]
    public void Arguments_are_checked()
    {
        Assert.Throws<ArgumentNullException>(() => new ScramSha256Client(null!));
        Assert.Throws<ArgumentException>(() => new ScramSha256Client("pencil", []));
        Assert.Throws<ArgumentException>(() => new ScramSha256Client("pen\0cil"));
    }

    [Fact]
    public void The_mechanism_follows_what_the_server_offers()
    {
        byte[] binding = [1, 2, 3];
        string[] both = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"];
        string[] plain = ["SCRAM-SHA-256"];

        Assert.Equal("p=tls-server-end-point,,", Gs2(ScramSha256Client.ForMechanisms("pw", both, binding)));
        Assert.Equal("y,,", Gs2(ScramSha256Client.ForMechanisms("pw", plain, binding)));
        Assert.Equal("n,,", Gs2(ScramSha256Client.ForMechanisms("pw", both, null)));
        Assert.Equal("n,,", Gs2(ScramSha256Client.ForMechanisms("pw", plain, null)));
        Assert.Equal("p=tls-server-end-point,,", Gs2(ScramSha256Client.ForMechanisms("pw", both, binding, requireChannelBinding: true)));
        Assert.Throws<ScramException>(() => ScramSha256Client.ForMechanisms("pw", plain, binding, requireChannelBinding: true));
        Assert.Throws<ScramException>(() => ScramSha256Client.ForMechanisms("pw", both, null, requireChannelBinding: true));
        Assert.Throws<ScramException>(() => ScramSha256Client.ForMechanisms("pw", ["SCRAM-SHA-1"], null));
        Assert.Throws<ScramException>(() => ScramSha256Client.ForMechanisms("pw", ["SCRAM-SHA-256-PLUS"], null));

        static string Gs2(ScramSha256Client client)
        {
            var first = Text(client.ClientFirstMessage());
            return first[..(first.IndexOf(",n=", StringComparison.Ordinal) + 1)];
        }
    }
}
