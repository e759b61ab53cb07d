using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>Reading admin request bodies: one JSON object of at most 64 KiB, or a 400 problem.</summary>
internal static class AdminJson
{
    private const int MaxBody = 64 * 1024;

    /// <summary>The body as a JSON object; null when a 400 was written instead.</summary>
    public static async Task<JsonObject?> ReadObjectAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBody)
        {
            await TooLargeAsync(context);
            return null;
        }
        try
        {
            // Read through the limit: a chunked body of any size never holds more than MaxBody + one read.
            var buffer = new byte[MaxBody + 1];
            var length = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer.AsMemory(length), context.RequestAborted)) > 0)
            {
                length += read;
                if (length > MaxBody)
                {
                    await TooLargeAsync(context);
                    return null;
                }
            }
            if (length > 0 && JsonNode.Parse(buffer.AsSpan(0, length)) is JsonObject body)
            {
                return body;
            }
        }
        catch (JsonException)
        {
            // answered below
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await TooLargeAsync(context);
            return null;
        }
        await Problem.WriteAsync(context, RefusalCatalog.InvalidJson, "the body must be one JSON object");
        return null;
    }

    private static Task TooLargeAsync(HttpContext context) =>
        Problem.WriteAsync(context, RefusalCatalog.PayloadTooLarge, "admin request bodies are at most 64 KiB");

    public static string? String(JsonObject body, string name) =>
        body.TryGetPropertyValue(name, out var node) && node is JsonValue value && value.TryGetValue<string>(out var text) && !string.IsNullOrWhiteSpace(text) ? text.Trim() : null;
}
