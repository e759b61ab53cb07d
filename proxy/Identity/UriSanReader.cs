using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Identity;

/// <summary>Reads the URI entries of a certificate's subjectAltName extension (GeneralName [6] IA5String).</summary>
internal static class UriSanReader
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>Returns the URI SANs, or null with <paramref name="error"/> when the extension is malformed.</summary>
    public static List<string>? Read(X509Certificate2 certificate, out string? error)
    {
        var uris = new List<string>(1);
        error = null;
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAltNameOid)
            {
                continue;
            }
            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                var names = reader.ReadSequence();
                reader.ThrowIfNotEmpty();
                while (names.HasData)
                {
                    var tag = names.PeekTag();
                    if (tag.HasSameClassAndValue(UriTag))
                    {
                        uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                    }
                    else
                    {
                        names.ReadEncodedValue();
                    }
                }
            }
            catch (Exception ex) when (ex is AsnContentException or CryptographicException)
            {
                error = "the subjectAltName extension is malformed";
                return null;
            }
        }
        return uris;
    }
}
