// An agent's MCP client, from the official TypeScript SDK, talking Streamable HTTP through the proxy.
// Usage: node client.mjs <endpoint>. Prints one JSON report on stdout; exits non-zero on anything unexpected.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const endpoint = new URL(process.argv[2]);
const client = new Client({ name: "secretless-ts-agent", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(endpoint));

async function refusal(call) {
  try {
    await client.callTool(call);
  } catch (error) {
    return { code: error.code, message: error.message };
  }
  throw new Error(`${call.name} was not refused`);
}

const { tools } = await client.listTools();
const found = await client.callTool({ name: "search_repos", arguments: { repo: "acme/gadgets", limit: 42 } });
const byName = await refusal({ name: "delete_repo", arguments: { repo: "acme/gadgets" } });
const byArgument = await refusal({ name: "search_repos", arguments: { repo: "acme/gadgets", limit: 500 } });
const echo = await client.callTool({ name: "echo_headers", arguments: {} });
let progress = 0;
const counted = await client.callTool({ name: "count", arguments: { n: 3 } }, undefined, { onprogress: () => { progress++; } });
if (counted.content[0].text !== "counted to 3") {
  throw new Error(`count answered ${JSON.stringify(counted)}`);
}
await client.close();
console.log(JSON.stringify({
  tools: tools.map((t) => t.name),
  allowed: found.content[0].text,
  byName,
  byArgument,
  echo: echo.content[0].text,
  progress,
}));
