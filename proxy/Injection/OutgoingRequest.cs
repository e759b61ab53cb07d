using System.Net.Http;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>An <see cref="ISignableRequest"/> over the <see cref="HttpRequestMessage"/> YARP is about to send.</summary>
internal sealed class OutgoingRequest(HttpRequestMessage request, string? payloadSha256) : ISignableRequest
{
    public string Method => request.Method.Method;

    public Uri Url => request.RequestUri!;

    public string Host
    {
        get
        {
            if (request.Headers.Host is { Length: > 0 } host)
            {
                return host;
            }
            // What SocketsHttpHandler writes when no Host header is set; set it explicitly so the wire carries
            // exactly the value that was signed.
            var url = Url;
            var authority = url.IsDefaultPort ? url.IdnHost : $"{url.IdnHost}:{url.Port}";
            if (url.HostNameType == UriHostNameType.IPv6 && !authority.StartsWith('['))
            {
                authority = url.IsDefaultPort ? $"[{url.IdnHost}]" : $"[{url.IdnHost}]:{url.Port}";
            }
            request.Headers.Host = authority;
            return authority;
        }
    }

    public IEnumerable<KeyValuePair<string, string>> Headers
    {
        get
        {
            foreach (var (name, values) in request.Headers.NonValidated)
            {
                foreach (var value in values)
                {
                    yield return new(name, value);
                }
            }
            if (request.Content is { } content)
            {
                foreach (var (name, values) in content.Headers.NonValidated)
                {
                    foreach (var value in values)
                    {
                        yield return new(name, value);
                    }
                }
            }
        }
    }

    public string? PayloadSha256 => payloadSha256;

    public void RemoveHeader(string name)
    {
        // Remove validates the name against the collection's kind: only call it where the header is.
        if (request.Headers.NonValidated.Contains(name))
        {
            request.Headers.Remove(name);
        }
        if (request.Content is { } content && content.Headers.NonValidated.Contains(name))
        {
            // Remove validates the name: only call it for a header the content really has.
            content.Headers.Remove(name);
        }
    }

    public void SetHeader(string name, string value)
    {
        RemoveHeader(name);
        request.Headers.TryAddWithoutValidation(name, value);
    }

    public void SetQueryParameter(string name, string value) =>
        throw new NotSupportedException("a signing injector sets the query through SetPathAndQuery");

    public void SetPathAndQuery(string pathAndQuery)
    {
        var url = Url;
        request.RequestUri = new Uri(url.GetLeftPart(UriPartial.Authority) + pathAndQuery, UriKind.Absolute);
    }
}
