// Test OAuth2/OIDC server: `node server.mjs CONFIG.json`.
// CONFIG: { "port", "clients": [...], "tokenTtl": seconds, "subjectJwks": "http://.../.well-known/jwks.json" }.
// Prints "listening PORT" once up, "token-issued CLIENT_ID TOKEN EXP" for every client-credentials access token it
// issues (TOKEN: the opaque token value, EXP: its expiry in Unix seconds), and
// "exchanged SUB" for every token exchange (RFC 8693, registered through oidc-provider's registerGrantType),
// "revoked JTI" for every token revoked (RFC 7009) and "introspected ACTIVE" for every introspection (RFC 7662).
// With "revocationDown": true in CONFIG the revocation endpoint answers 503 (an issuer whose revocation is down).
// A test client may mint ID tokens for a person with the grant type urn:secretless:test:id-token (params sub, name,
// groups space-separated, expires_in seconds, may be negative; claims a JSON object of extra claims): they are signed with the server's own keys (its JWKS
// at /jwks, found by discovery) for the calling client as audience, standing in for an interactive login.
// With "tls": { "cert", "key", "ca" } (PEM files) in CONFIG the server speaks HTTPS and asks for (never requires) a
// client certificate, verified against "ca": RFC 8705 is on (tls_client_auth with tls_client_auth_san_uri,
// self_signed_tls_client_auth, certificate-bound access tokens), reading the certificate from the TLS socket (no
// terminator in front). It prints "token-bound JTI X5T" for every token bound to a certificate (cnf.x5t#S256).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider, { errors } from 'oidc-provider';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, generateKeyPair, exportJWK } from 'jose';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = config.port ?? 0;
const tls = config.tls;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
// The client certificate of the request's TLS connection, as node verified it against tls.ca (or did not).
const peerCertificate = (ctx) => ctx.socket.getPeerX509Certificate?.() ?? undefined;
const mTLS = tls ? {
  enabled: true,
  certificateBoundAccessTokens: true,
  tlsClientAuth: true,
  selfSignedTlsClientAuth: true,
  getCertificate: peerCertificate,
  certificateAuthorized: (ctx) => ctx.socket.authorized === true,
  certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_san_uri'
    && (peerCertificate(ctx)?.subjectAltName ?? '').split(', ').includes(`URI:${expected}`),
} : { enabled: false };
// A fresh signing key per run (ID tokens are signed with it; /jwks serves its public half).
const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: config.clients,
  // oidc-provider's defaults, plus RFC 8705's two methods when mTLS is on.
  clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none', ...(tls ? ['tls_client_auth', 'self_signed_tls_client_auth'] : [])],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    mTLS,
  },
  scopes: ['openid', 'repo:read'],
  ttl: { ClientCredentials: config.tokenTtl ?? 300 },
  // A token-exchange grant sets the claims of the token it issues (sub, act, aud) on the token before saving it;
  // oidc-provider keeps them as the token's extra claims, which introspection returns.
  extraTokenClaims: async (ctx, token) => token.exchangeClaims,
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
    .then((stored) => {
      console.log(`token-issued ${clientId} ${issued.jti} ${stored?.exp ?? '-'}`);
      if (stored?.['x5t#S256']) console.log(`token-bound ${issued.jti} ${stored['x5t#S256']}`);
    })
    .catch(() => console.log(`token-issued ${clientId} ${issued.jti} -`));
});
provider.on('revocation.success', (ctx, token) => console.log(`revoked ${token?.jti ?? '-'}`));
provider.on('introspection.error', (ctx, err) => console.log(`introspection-error ${err.error}`));
provider.use(async (ctx, next) => {
  if (config.revocationDown && ctx.path === '/token/revocation') {
    console.log('revocation-down');
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable' };
    return;
  }
  await next();
  if (ctx.path === '/token/introspection' && ctx.status === 200 && ctx.body) {
    console.log(`introspected ${ctx.body.active}`);
  }
});
provider.on('grant.error', (ctx, err) => console.log(`token-refused ${ctx.oidc.client?.clientId ?? '-'} ${err.error}`));

const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const jwtType = 'urn:ietf:params:oauth:token-type:jwt';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
const subjectKeys = config.subjectJwks ? createRemoteJWKSet(new URL(config.subjectJwks)) : null;
// On behalf of a user (RFC 8693 with an actor_token): the subject_token is a user's token this server issued (an ID
// token, verified with its own key), the actor_token the proxy's JWT for the agent (verified with the proxy's JWKS);
// the issued token names the user as sub and the agent in act. Prints "exchanged SUB act ACTOR".
const ownKeys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] });
const userTokenTypes = [jwtType, 'urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:access_token'];
provider.registerGrantType(tokenExchange, async (ctx) => {
  const { subject_token: subjectToken, subject_token_type: subjectType, actor_token: actorToken, actor_token_type: actorType, audience, scope } = ctx.oidc.params;
  if (actorToken) {
    if (actorType !== jwtType) throw new errors.InvalidRequest(`actor_token_type must be ${jwtType}`);
    if (!userTokenTypes.includes(subjectType)) throw new errors.InvalidRequest(`subject_token_type must be one of ${userTokenTypes.join(', ')}`);
    let user;
    let actor;
    try {
      ({ payload: user } = await jwtVerify(subjectToken, ownKeys, { issuer }));
    } catch (err) {
      throw new errors.InvalidGrant(`subject_token rejected: ${err.code ?? err.message}`);
    }
    try {
      ({ payload: actor } = await jwtVerify(actorToken, subjectKeys, { audience: issuer }));
    } catch (err) {
      throw new errors.InvalidGrant(`actor_token rejected: ${err.code ?? err.message}`);
    }
    const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: scope ?? undefined });
    token.exchangeClaims = { sub: user.sub, act: { sub: actor.sub }, aud: audience };
    const value = await token.save();
    console.log(`exchanged ${user.sub} act ${actor.sub}`);
    ctx.body = { access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
    return;
  }
  if (subjectType !== jwtType) throw new errors.InvalidRequest(`subject_token_type must be ${jwtType}`);
  let payload;
  try {
    ({ payload } = await jwtVerify(subjectToken, subjectKeys, { audience: issuer }));
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token rejected: ${err.code ?? err.message}`);
  }
  const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: scope ?? undefined });
  token.exchangeClaims = { sub: payload.sub, aud: audience };
  const value = await token.save();
  console.log(`exchanged ${payload.sub}`);
  ctx.body = { access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
}, ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope']);

provider.registerGrantType('urn:secretless:test:id-token', async (ctx) => {
  const { sub, name, groups, expires_in: expiresIn, claims } = ctx.oidc.params;
  if (!sub) throw new errors.InvalidRequest('sub is required');
  const idToken = new provider.IdToken({ sub }, { ctx });
  idToken.scope = 'openid';
  if (name) idToken.set('name', name);
  if (groups) idToken.set('groups', groups.split(' ').filter((g) => g.length > 0));
  // Extra claims (a JSON object), as a CI or cloud issuer puts them in its tokens (repository, ref, ...).
  if (claims) for (const [key, value] of Object.entries(JSON.parse(claims))) idToken.set(key, value);
  const now = Math.floor(Date.now() / 1000);
  const ttl = expiresIn === undefined ? 300 : Number(expiresIn);
  const value = await idToken.issue({ use: 'idtoken', expiresAt: now + ttl });
  console.log(`id-token-issued ${sub}`);
  ctx.body = { id_token: value, token_type: 'Bearer', expires_in: ttl };
}, ['sub', 'name', 'groups', 'expires_in', 'claims']);

const server = tls
  ? createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), ca: readFileSync(tls.ca), requestCert: true, rejectUnauthorized: false }, provider.callback())
    .listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`))
  : provider.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
