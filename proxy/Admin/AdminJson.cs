using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Pipeline;

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
            await Problem.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body_too_large", "Body too large", "admin request bodies are at most 64 KiB");
            return null;
        }
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            if (buffer.Length > MaxBody)
            {
                await Problem.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body_too_large", "Body too large", "admin request bodies are at most 64 KiB");
                return null;
            }
            if (buffer.Length > 0 && JsonNode.Parse(buffer.ToArray()) is JsonObject body)
            {
                return body;
            }
        }
        catch (JsonException)
        {
            // answered below
        }
        await Problem.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid_json", "Invalid JSON", "the body must be one JSON object");
        return null;
    }

    public static string? String(JsonObject body, string name) =>
        body.TryGetPropertyValue(name, out var node) && node is JsonValue value && value.TryGetValue<string>(out var text) && !string.IsNullOrWhiteSpace(text) ? text.Trim() : null;
}
