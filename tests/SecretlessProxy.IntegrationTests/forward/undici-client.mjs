// undici's fetch through its ProxyAgent (Node's own fetch ignores HTTPS_PROXY), trusting the interception CA.
// Usage: node undici-client.mjs PROXY_URL TARGET_URL CA_FILE
// Prints one JSON line: { status, body } or { error }.
import { readFileSync } from 'node:fs';
import { fetch, ProxyAgent } from 'undici';

const [proxy, target, caFile] = process.argv.slice(2);
try {
  const dispatcher = new ProxyAgent({ uri: proxy, requestTls: { ca: readFileSync(caFile, 'utf8') } });
  const response = await fetch(target, { dispatcher });
  const body = await response.text();
  console.log(JSON.stringify({ status: response.status, body }));
  await dispatcher.close();
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.cause ?? error) }));
}
