// Test OAuth2/OIDC server: `node server.mjs CONFIG.json`. CONFIG: { "clients": [...], "tokenTtl": seconds }.
// Prints "listening PORT" once up and "token-issued CLIENT_ID" for every access token it issues.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = config.port ?? 0;
const provider = new Provider(`http://127.0.0.1:${config.issuerPort ?? port}`, {
  clients: config.clients,
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  scopes: ['openid', 'repo:read'],
  ttl: { ClientCredentials: config.tokenTtl ?? 300 },
});
provider.on('grant.success', (ctx) => console.log(`token-issued ${ctx.oidc.client?.clientId}`));
provider.on('grant.error', (ctx, err) => console.log(`token-refused ${ctx.oidc.client?.clientId ?? '-'} ${err.error}`));
const server = provider.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
