// Test OAuth2/OIDC server: `node server.mjs CONFIG.json`.
// CONFIG: { "port", "clients": [...], "tokenTtl": seconds, "subjectJwks": "http://.../.well-known/jwks.json" }.
// Prints "listening PORT" once up, "token-issued CLIENT_ID TOKEN EXP" for every client-credentials access token it
// issues (TOKEN: the opaque token value, EXP: its expiry in Unix seconds), and
// "exchanged SUB" for every token exchange (RFC 8693, registered through oidc-provider's registerGrantType).
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = config.port ?? 0;
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: config.clients,
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  scopes: ['openid', 'repo:read'],
  ttl: { ClientCredentials: config.tokenTtl ?? 300 },
});
provider.on('grant.success', (ctx) => {
  const clientId = ctx.oidc.client?.clientId;
  const issued = ctx.oidc.entities.ClientCredentials;
  if (!issued) {
    console.log(`token-issued ${clientId} - -`);
    return;
  }
  // The stored token carries the expiry the server enforces (iat + lifetime, in whole seconds).
  provider.ClientCredentials.find(issued.jti, { ignoreExpiration: true })
    .then((stored) => console.log(`token-issued ${clientId} ${issued.jti} ${stored?.exp ?? '-'}`))
    .catch(() => console.log(`token-issued ${clientId} ${issued.jti} -`));
});
provider.on('grant.error', (ctx, err) => console.log(`token-refused ${ctx.oidc.client?.clientId ?? '-'} ${err.error}`));

const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const jwtType = 'urn:ietf:params:oauth:token-type:jwt';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
const subjectKeys = config.subjectJwks ? createRemoteJWKSet(new URL(config.subjectJwks)) : null;
provider.registerGrantType(tokenExchange, async (ctx) => {
  const { subject_token: subjectToken, subject_token_type: subjectType, audience, scope } = ctx.oidc.params;
  if (subjectType !== jwtType) throw new errors.InvalidRequest(`subject_token_type must be ${jwtType}`);
  let payload;
  try {
    ({ payload } = await jwtVerify(subjectToken, subjectKeys, { audience: issuer }));
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token rejected: ${err.code ?? err.message}`);
  }
  const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: scope ?? undefined, extra: { sub: payload.sub, aud: audience } });
  const value = await token.save();
  console.log(`exchanged ${payload.sub}`);
  ctx.body = { access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
}, ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope']);

const server = provider.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
