using System.Collections.Concurrent;
using System.ComponentModel;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// An MCP server built with the official C# SDK (<c>ModelContextProtocol.AspNetCore</c>, Streamable HTTP, stateful
/// sessions) on 127.0.0.1: <c>search_repos</c>, <c>delete_repo</c>, <c>echo_headers</c> (answers with every request
/// header it received, as a careless server would) and <c>count</c> (reports progress before it answers, so its answer
/// is an event stream of several events). <c>/json-mcp</c> answers a canned <c>tools/list</c> as plain JSON.
/// </summary>
public sealed class McpTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private McpTestServer(WebApplication app, Uri address, Received received)
    {
        _app = app;
        Address = address;
        Requests = received;
    }

    public Uri Address { get; }

    /// <summary>Every request the server got: method, path, Mcp-Session-Id, JSON-RPC body.</summary>
    public Received Requests { get; }

    public sealed class Received
    {
        public ConcurrentQueue<(string Method, string Path, string? SessionId, string Body)> All { get; } = new();

        /// <summary>The Authorization header of every request (empty when there was none), in order.</summary>
        public ConcurrentQueue<string> Authorizations { get; } = new();
    }

    public const string JsonToolsList = """
        {"jsonrpc":"2.0","id":"list-1","result":{"tools":[
          {"name":"search_repos","description":"finds","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}}}},
          {"name":"delete_repo","description":"deletes","inputSchema":{"type":"object"}},
          {"name":"echo_headers","inputSchema":{"type":"object"}},
          {"name":42},
          {"name":"get_secret","inputSchema":{"type":"object"}}],"nextCursor":"page-2"}}
        """;

    public static async Task<McpTestServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddMcpServer(options => options.ServerInfo = new() { Name = "secretless-test-tools", Version = "1.0.0" })
            // Stateful (sessions, Mcp-Session-Id): the tests show the session id passes through; the SDK defaults to stateless.
            .WithHttpTransport(options => options.Stateless = false)
            .WithTools<Tools>();
        var received = new Received();
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            context.Request.EnableBuffering();
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync(context.RequestAborted);
            context.Request.Body.Position = 0;
            received.Authorizations.Enqueue(context.Request.Headers.Authorization.ToString());
            received.All.Enqueue((context.Request.Method, context.Request.Path.Value ?? "", context.Request.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } s ? s : null, body));
            await next(context);
        });
        app.MapPost("/json-mcp", async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonToolsList.ReplaceLineEndings(""));
        });
        app.MapMcp("/mcp");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new McpTestServer(app, new Uri(address + "/"), received);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [McpServerToolType]
    public sealed class Tools(IHttpContextAccessor http)
    {
        [McpServerTool(Name = "search_repos"), Description("Searches a repository.")]
        public static string SearchRepos(string repo, int limit = 10) => $"found {limit} results in {repo}";

        [McpServerTool(Name = "delete_repo"), Description("Deletes a repository.")]
        public static string DeleteRepo(string repo) => $"deleted {repo}";

        [McpServerTool(Name = "echo_headers"), Description("Answers with the request headers it received.")]
        public string EchoHeaders()
        {
            var headers = http.HttpContext?.Request.Headers ?? throw new InvalidOperationException("no HTTP context");
            return string.Join("\n", headers.Select(h => $"{h.Key}: {h.Value}"));
        }

        [McpServerTool(Name = "count"), Description("Counts to n, reporting progress on the way.")]
        public static async Task<string> Count(RequestContext<CallToolRequestParams> context, int n)
        {
            // Awaited, so every notification is in the answer's event stream before the result.
            if (context.Params?.ProgressToken is { } token)
            {
                for (var i = 1; i <= n; i++)
                {
                    await context.Server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = i, Total = n, Message = $"step {i}" });
                }
            }
            return $"counted to {n}";
        }
    }
}
