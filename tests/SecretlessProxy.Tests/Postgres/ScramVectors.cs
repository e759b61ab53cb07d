using System.Globalization;
using System.Text;

namespace SecretlessProxy.Tests.Postgres;

/// <summary>The files of tests/vectors/scram (see its README).</summary>
internal static class ScramVectors
{
    public static string Directory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SecretlessProxy.sln")))
        {
            dir = dir.Parent;
        }
        Assert.NotNull(dir);
        var vectors = Path.Combine(dir.FullName, "tests", "vectors", "scram");
        Assert.True(System.IO.Directory.Exists(vectors), $"the SCRAM vectors are expected at {vectors}");
        return vectors;
    }

    /// <summary>RFC 7677 §3: the user, the password and the four messages, in order.</summary>
    public static (string User, string Password, string ClientFirst, string ServerFirst, string ClientFinal, string ServerFinal) Rfc7677()
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var messages = new List<string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Directory(), "rfc7677-section3.txt")))
        {
            if (line.StartsWith("C: ", StringComparison.Ordinal) || line.StartsWith("S: ", StringComparison.Ordinal))
            {
                messages.Add(line[3..]);
            }
            else if (!line.StartsWith('#') && line.Split(": ", 2) is [var key, var value])
            {
                fields[key] = value;
            }
        }
        Assert.Equal(4, messages.Count);
        return (fields["user"], fields["password"], messages[0], messages[1], messages[2], messages[3]);
    }

    /// <summary>postgres-verifiers.txt: (what, password, the verifier PostgreSQL made).</summary>
    public static TheoryData<string, string, string> PostgresVerifiers()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var line in File.ReadAllLines(Path.Combine(Directory(), "postgres-verifiers.txt")))
        {
            if (line.StartsWith('#') || line.Length == 0)
            {
                continue;
            }
            var parts = line.Split('\t');
            Assert.Equal(3, parts.Length);
            data.Add(parts[0], Unescape(parts[1]), parts[2]);
        }
        return data;
    }

    /// <summary>\uXXXX and \UXXXXXXXX escapes; every other character stands for itself.</summary>
    public static string Unescape(string text)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is 'u' or 'U')
            {
                var digits = text[i + 1] == 'u' ? 4 : 8;
                result.Append(char.ConvertFromUtf32(int.Parse(text.AsSpan(i + 2, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                i += 1 + digits;
            }
            else
            {
                result.Append(text[i]);
            }
        }
        return result.ToString();
    }
}
