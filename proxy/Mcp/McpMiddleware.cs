using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Decisions;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Mcp;

/// <summary>
/// The MCP front-end on routes with <c>Metadata: { Protocol: mcp }</c> (Streamable HTTP), after the HTTP-level policy:
/// each POSTed JSON-RPC message (or batch) is read within the route's bounds and decided by the policy's <c>mcp:</c>
/// blocks, through the same decision core as every request (grants, schedules, attestation, context facts). A refused
/// request is answered in JSON-RPC (an error response with its id, HTTP 200), never forwarded; a batch with one refused
/// message is refused whole. List answers (<c>tools/list</c>, <c>resources/list</c>, <c>prompts/list</c>) are filtered
/// to what the caller may use (<see cref="McpListFilter"/>). GET (the server's event stream) and DELETE (ending the
/// session) pass as the HTTP policy decided; <c>Mcp-Session-Id</c> passes both ways untouched.
/// </summary>
internal sealed partial class McpMiddleware(RequestDelegate next, ConfigManager configs, AccessDecider decider, TimeProvider time, ILogger<McpMiddleware> logger)
{
    private readonly McpUserTokens _users = new(time, logger);

    public async Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.GetRequiredFeature<DecisionRecord>();
        var config = context.Features.Get<ProxyConfig>() ?? configs.Current;
        if (record.Route is not { } routeId || !config.McpRoutes.TryGetValue(routeId, out var settings))
        {
            await next(context);
            return;
        }
        // The user's token is for the proxy: it never reaches the MCP server, whatever the method.
        var userToken = settings.UserHeader is { } userHeader ? context.Request.Headers[userHeader].ToString() : "";
        if (settings.UserHeader is not null)
        {
            context.Request.Headers.Remove(settings.UserHeader);
        }
        var post = HttpMethods.IsPost(context.Request.Method);
        if (!post && (settings.UserHeader is null || userToken.Length == 0))
        {
            await next(context);
            return;
        }
        var identity = context.Features.GetRequiredFeature<IWorkloadIdentityFeature>().Verification.Identity!;
        var exchange = record.Mcp = new McpExchange();
        string? user = null;
        if (settings.UserHeader is not null && (userToken.Length > 0 || settings.UserRequired && post))
        {
            var validated = userToken.Length == 0
                ? new McpUserTokens.Result(null, $"the route needs the token of the user the agent acts for in {settings.UserHeader}", false)
                : await _users.ValidateAsync(userToken, settings, context.RequestAborted);
            if (validated.User is null)
            {
                var refusal = validated.IssuerUnavailable ? RefusalCatalog.McpUserIssuerUnavailable : RefusalCatalog.McpUserTokenInvalid;
                await RefuseMessageAsync(context, exchange, refusal, McpMessageReader.InvalidRequest, validated.Problem!, identity, routeId);
                return;
            }
            user = exchange.User = validated.User;
            // For an on-behalf-of credential: the broker exchanges this token for one that names the user and the agent.
            context.Features.Set(validated.Acting);
        }
        if (!post)
        {
            // The server's stream (GET) or the end of a session (DELETE): the user is known, nothing more to decide here.
            await next(context);
            return;
        }
        if (!IsJson(context.Request.ContentType))
        {
            await RefuseMessageAsync(context, exchange, RefusalCatalog.McpNotJson, McpMessageReader.InvalidRequest,
                "a Streamable HTTP MCP message is POSTed as Content-Type: application/json", identity, routeId);
            return;
        }
        if (context.Request.ContentLength > settings.MaxMessageBytes)
        {
            await RefuseMessageAsync(context, exchange, RefusalCatalog.McpMessageTooLarge, McpMessageReader.InvalidRequest,
                $"the message is longer than the {settings.MaxMessageBytes} bytes this route reads (McpMaxMessageBytes)", identity, routeId);
            return;
        }
        var buffer = await ReadBodyAsync(context, settings.MaxMessageBytes);
        if (buffer.Problem is { } problem)
        {
            await RefuseMessageAsync(context, exchange, problem.Refusal, McpMessageReader.InvalidRequest, problem.Detail, identity, routeId);
            return;
        }
        using var body = McpMessageReader.Read(buffer.Bytes.AsMemory(0, buffer.Length), settings.MaxDepth, settings.MaxBatch, out var error);
        if (body is null)
        {
            await RefuseMessageAsync(context, exchange, RefusalCatalog.McpInvalidMessage, error.Code, error.Message, identity, routeId);
            return;
        }
        exchange.Messages = body.Messages.Count;

        var request = new AccessRequest(routeId, context.Request.Method, context.Request.Path.Value!)
        {
            Listener = context.Features.Get<IListenerFeature>()?.Name,
            Source = context.Connection.RemoteIpAddress,
        };
        List<(JsonRpcMessage Message, AccessOutcome Outcome)>? refused = null;
        Dictionary<string, string>? lists = null;
        JsonRpcMessage? first = null;
        foreach (var message in body.Messages)
        {
            if (message.Call is not { } call)
            {
                // A response to a request the server sent (sampling, elicitation): the HTTP policy let the caller talk to this server.
                continue;
            }
            first ??= message;
            call.User = user;
            var outcome = decider.Decide(config, identity, request with { Mcp = call }, record);
            if (!outcome.IsAllowed)
            {
                (refused ??= []).Add((message, outcome));
            }
            else if (message.Kind == JsonRpcKind.Request && IsList(call.Method))
            {
                (lists ??= new Dictionary<string, string>(StringComparer.Ordinal))[message.IdKey!] = call.Method;
            }
        }
        Describe(exchange, refused?[0].Message ?? first, settings);
        if (refused is not null)
        {
            await RefuseCallsAsync(context, exchange, body, refused, identity, routeId);
            return;
        }

        context.Request.Body = new MemoryStream(buffer.Bytes, 0, buffer.Length, writable: false);
        // A refusal of the caller after this point (a per-user secret the user does not have) is answered in JSON-RPC too.
        context.Features.Set<IRefusalAnswer>(new Answer(logger, exchange, body, identity, routeId));
        if (lists is null)
        {
            await next(context);
            return;
        }
        // The list answer is read to filter it: it must not come compressed.
        context.Request.Headers.Remove("Accept-Encoding");
        var original = context.Response.Body;
        var filter = new McpListFilter(original, context.Response, lists, settings.MaxListBytes,
            (method, name) => decider.Permits(config, identity, request with { Mcp = new McpCall(method, name, listing: true) { User = user } }), exchange, context.TraceIdentifier);
        context.Response.Body = filter;
        try
        {
            await next(context);
            await filter.CompleteAsync(context.RequestAborted);
        }
        finally
        {
            context.Response.Body = original;
        }
        if (exchange.Hidden > 0)
        {
            Log.Hidden(logger, identity.SpiffeId.Value, routeId, exchange.Hidden);
        }
        if (filter.Failed)
        {
            Log.Unfiltered(logger, routeId, settings.MaxListBytes);
        }
    }

    internal static bool IsList(string method) => method is McpCall.ToolsList or McpCall.ResourcesList or McpCall.ResourceTemplatesList or McpCall.PromptsList;

    private static bool IsJson(string? contentType)
    {
        if (contentType is null)
        {
            return false;
        }
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        var media = (semicolon < 0 ? contentType : contentType[..semicolon]).Trim();
        return string.Equals(media, "application/json", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The audit's view of the deciding message: method, what it names, argument keys and sizes (values where the route opts in).</summary>
    private static void Describe(McpExchange exchange, JsonRpcMessage? message, McpRouteSettings settings)
    {
        if (message is null)
        {
            exchange.Method = null;
            return;
        }
        exchange.Method = message.Method;
        exchange.NameKind = message.Method switch
        {
            McpCall.ToolsCall => "tool",
            McpCall.PromptsGet => "prompt",
            McpCall.ResourcesRead => "resource",
            _ => null,
        };
        exchange.Name = message.Name;
        if (message.Arguments.ValueKind == JsonValueKind.Object)
        {
            var sizes = new List<KeyValuePair<string, int>>();
            foreach (var property in message.Arguments.EnumerateObject())
            {
                if (sizes.Count == 64)
                {
                    break;
                }
                sizes.Add(new(property.Name, property.Value.GetRawText().Length));
            }
            exchange.Arguments = sizes;
            if (settings.AuditArgumentValues)
            {
                exchange.ArgumentValues = message.Arguments.GetRawText();
            }
        }
    }

    private readonly record struct Body(byte[] Bytes, int Length, (Refusal Refusal, string Detail)? Problem);

    /// <summary>Reads the whole body, at most <paramref name="limit"/> bytes (an array returned to the pool when the response ends).</summary>
    private static async Task<Body> ReadBodyAsync(HttpContext context, int limit)
    {
        var expected = context.Request.ContentLength is { } length ? (int)length : 16 * 1024;
        var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(expected, 256));
        context.Response.RegisterForDispose(new Returned(bytes));
        var count = 0;
        try
        {
            while (true)
            {
                if (count == bytes.Length)
                {
                    if (bytes.Length >= limit + 1)
                    {
                        break;
                    }
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(bytes.Length * 2, limit + 1));
                    bytes.AsSpan(0, count).CopyTo(larger);
                    bytes = larger;
                    context.Response.RegisterForDispose(new Returned(bytes));
                }
                var read = await context.Request.Body.ReadAsync(bytes.AsMemory(count, Math.Min(bytes.Length, limit + 1) - count), context.RequestAborted);
                if (read == 0)
                {
                    break;
                }
                count += read;
                if (count > limit)
                {
                    return new Body(bytes, count, (RefusalCatalog.McpMessageTooLarge, $"the message is longer than the {limit} bytes this route reads (McpMaxMessageBytes)"));
                }
            }
        }
        catch (BadHttpRequestException)
        {
            return new Body(bytes, count, (RefusalCatalog.McpInvalidMessage, "the request body could not be read in full"));
        }
        return new Body(bytes, count, null);
    }

    private sealed class Returned(byte[] bytes) : IDisposable
    {
        public void Dispose() => ArrayPool<byte>.Shared.Return(bytes);
    }

    /// <summary>A body that is not JSON-RPC the proxy decides on: the entry's status, a JSON-RPC error without id.</summary>
    private async Task RefuseMessageAsync(HttpContext context, McpExchange exchange, Refusal refusal, int code, string detail, WorkloadIdentity identity, string routeId)
    {
        context.Features.Get<IRefusalSink>()?.Refused(refusal);
        exchange.ErrorCode = code;
        Log.Malformed(logger, identity.SpiffeId.Value, routeId, refusal.Reason);
        var errors = new[] { new JsonRpcAnswers.Error(default, code, refusal, detail + "; it was not forwarded", null) };
        await WriteAsync(context, refusal.Status, JsonRpcAnswers.Body(errors, asBatch: false, context.TraceIdentifier), refusal.RetryAfterSeconds);
    }

    /// <summary>
    /// Refused messages: each request gets its error; with a batch, every other request of it gets one too (nothing of
    /// the batch was forwarded). HTTP 200 when a request is answered; a body of notifications only gets the status.
    /// </summary>
    private async Task RefuseCallsAsync(HttpContext context, McpExchange exchange, McpRequestBody body, List<(JsonRpcMessage Message, AccessOutcome Outcome)> refused, WorkloadIdentity identity, string routeId)
    {
        var (firstMessage, firstOutcome) = refused[0];
        var errors = new List<JsonRpcAnswers.Error>();
        foreach (var message in body.Messages)
        {
            if (message.Kind != JsonRpcKind.Request)
            {
                continue;
            }
            var index = refused.FindIndex(r => ReferenceEquals(r.Message, message));
            if (index >= 0)
            {
                var outcome = refused[index].Outcome;
                errors.Add(new JsonRpcAnswers.Error(message.Id, JsonRpcAnswers.PolicyRefused, outcome.Refusal!, What(message) + " was refused: " + outcome.Detail, outcome.Decision.Rule?.Name));
            }
            else
            {
                errors.Add(new JsonRpcAnswers.Error(message.Id, JsonRpcAnswers.PolicyRefused, firstOutcome.Refusal!,
                    $"not forwarded, because {What(firstMessage)} in the same batch was refused", firstOutcome.Decision.Rule?.Name));
            }
        }
        exchange.ErrorCode = JsonRpcAnswers.PolicyRefused;
        Log.Refused(logger, identity.SpiffeId.Value, routeId, firstMessage.Method ?? "", firstMessage.Name ?? "", firstOutcome.Decision.Rule?.Name ?? "(none)", firstOutcome.Refusal!.Reason);
        if (errors.Count == 0)
        {
            var error = new JsonRpcAnswers.Error(default, JsonRpcAnswers.PolicyRefused, firstOutcome.Refusal!, What(firstMessage) + " was refused: " + firstOutcome.Detail, firstOutcome.Decision.Rule?.Name);
            await WriteAsync(context, firstOutcome.Refusal!.Status, JsonRpcAnswers.Body([error], asBatch: false, context.TraceIdentifier));
            return;
        }
        await WriteAsync(context, StatusCodes.Status200OK, JsonRpcAnswers.Body(errors, body.IsBatch, context.TraceIdentifier));
    }

    /// <summary>Answers a refusal of the caller made after the messages were allowed: every request of the body gets the error.</summary>
    private sealed class Answer(ILogger logger, McpExchange exchange, McpRequestBody body, WorkloadIdentity identity, string routeId) : IRefusalAnswer
    {
        public async Task WriteAsync(HttpContext context, Refusal refusal, string detail)
        {
            context.Features.Get<IRefusalSink>()?.Refused(refusal);
            exchange.ErrorCode = JsonRpcAnswers.PolicyRefused;
            var first = body.Messages.FirstOrDefault(m => m.Call is not null);
            Log.Refused(logger, identity.SpiffeId.Value, routeId, first?.Method ?? "", first?.Name ?? "", "(none)", refusal.Reason);
            var errors = body.Messages.Where(m => m.Kind == JsonRpcKind.Request)
                .Select(m => new JsonRpcAnswers.Error(m.Id, JsonRpcAnswers.PolicyRefused, refusal, What(m) + " was refused: " + detail, null)).ToList();
            if (errors.Count == 0)
            {
                await McpMiddleware.WriteAsync(context, refusal.Status,
                    JsonRpcAnswers.Body([new JsonRpcAnswers.Error(default, JsonRpcAnswers.PolicyRefused, refusal, detail, null)], asBatch: false, context.TraceIdentifier));
                return;
            }
            await McpMiddleware.WriteAsync(context, StatusCodes.Status200OK, JsonRpcAnswers.Body(errors, body.IsBatch, context.TraceIdentifier));
        }
    }

    private static string What(JsonRpcMessage message) => message.Name is { } name
        ? $"{message.Method} '{(name.Length <= 128 ? name : string.Concat(name.AsSpan(0, 128), "..."))}'"
        : $"{message.Method}";

    private static async Task WriteAsync(HttpContext context, int status, byte[] body, int? retryAfter = null)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (retryAfter is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Refused MCP {Method} '{Name}' from {Identity} on route {Route}: rule {Rule}, reason {Reason}")]
        public static partial void Refused(ILogger logger, string identity, string route, string method, string name, string rule, string reason);

        [LoggerMessage(EventId = 2402, Level = LogLevel.Information, Message = "Refused a POST from {Identity} on MCP route {Route}: {Reason}")]
        public static partial void Malformed(ILogger logger, string identity, string route, string reason);

        [LoggerMessage(EventId = 2403, Level = LogLevel.Debug, Message = "MCP route {Route}: {Count} entries of a list answer hidden from {Identity}")]
        public static partial void Hidden(ILogger logger, string identity, string route, int count);

        [LoggerMessage(EventId = 2404, Level = LogLevel.Warning, Message = "MCP route {Route}: a list answer could not be filtered (not JSON, compressed, or longer than {Limit} bytes); the caller got a JSON-RPC error")]
        public static partial void Unfiltered(ILogger logger, string route, int limit);
    }
}
