using System.Buffers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace SecretlessProxy.Injection;

/// <summary>
/// Reads a request body into memory (bounded per request by the route, and across requests by the
/// <see cref="BodyBufferBudget"/>) and hashes it as it arrives, for injectors that sign the payload. The body is
/// put back as a <see cref="SegmentedBody"/>, so YARP forwards the very bytes that were hashed.
/// </summary>
internal static class PayloadHasher
{
    /// <summary>SHA-256 (hex) of the empty body.</summary>
    public const string EmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    public readonly record struct Refusal(Refusals.Refusal Entry, string Detail);

    public readonly record struct Result(string? Sha256, Refusal? Refusal);

    public static async Task<Result> BufferAndHashAsync(HttpRequest request, long limit, BodyBufferBudget budget, CancellationToken cancellationToken)
    {
        var canHaveBody = request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;
        if (!canHaveBody || request.ContentLength == 0)
        {
            return new Result(EmptySha256, null);
        }
        if (request.ContentLength > limit)
        {
            return new Result(null, TooLarge(limit));
        }
        var body = new SegmentedBody(budget);
        // Returned (segments and budget) when the request ends, whatever happens to it.
        request.HttpContext.Response.RegisterForDispose(body);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (body.Length + read > limit)
                {
                    return new Result(null, TooLarge(limit));
                }
                if (!body.TryAppend(chunk.AsSpan(0, read)))
                {
                    return new Result(null, new Refusal(Refusals.RefusalCatalog.BodyBufferFull,
                        $"request bodies being signed already hold the {budget.Limit} bytes the proxy buffers at once (limits.maxBufferedBodyBytes); the upstream was not called, retry shortly"));
                }
                hash.AppendData(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own body limits and malformed chunking surface here.
            return new Result(null, ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(limit)
                : new Refusal(Refusals.RefusalCatalog.BodyUnreadable,
                    "the request body could not be read in full, so it cannot be signed; the upstream was not called"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        body.Position = 0;
        request.Body = body;
        return new Result(Convert.ToHexStringLower(hash.GetHashAndReset()), null);
    }

    private static Refusal TooLarge(long limit) => new(Refusals.RefusalCatalog.PayloadTooLarge,
        $"the request body is larger than the {limit} bytes this route's signer hashes (inject.maxPayloadBytes); the upstream was not called");
}
