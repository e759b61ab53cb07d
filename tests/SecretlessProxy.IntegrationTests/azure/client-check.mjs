// Test-only: Azure's own Key Vault client (@azure/keyvault-secrets) driving the test project's Key Vault emulator
// (Infrastructure/AzureEmulator.cs) to show it speaks the API the service does: the SDK's first call meets the 401
// challenge, it asks its credential for the challenge's resource scope, and reads the current and a pinned version.
// The credential is a custom TokenCredential that gets the token from the emulator's Entra ID token endpoint with the
// federated token as client assertion (the workload identity grant). A credential whose token is for another
// resource is refused. Prints one JSON line with what it saw.
// Usage: node client-check.mjs VAULT_URL TOKEN_URL CLIENT_ID FEDERATED_TOKEN SECRET_NAME PINNED_VERSION
//   (NODE_EXTRA_CA_CERTS names the test CA)
import { SecretClient } from "@azure/keyvault-secrets";

const [vaultUrl, tokenUrl, clientId, assertion, name, pinned] = process.argv.slice(2);
const scopesAsked = [];

function credential(overrideScope) {
  return {
    async getToken(scopes) {
      const scope = overrideScope ?? (Array.isArray(scopes) ? scopes[0] : scopes);
      scopesAsked.push(Array.isArray(scopes) ? scopes.join(" ") : scopes);
      const response = await fetch(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials", client_id: clientId, scope,
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion,
        }),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(`token endpoint: ${response.status} ${body.error}`);
      return { token: body.access_token, expiresOnTimestamp: Date.now() + body.expires_in * 1000 };
    },
  };
}

const seen = {};
const client = new SecretClient(vaultUrl, credential(), { disableChallengeResourceVerification: true });
const current = await client.getSecret(name);
seen.value = current.value;
seen.version = current.properties.version;
seen.enabled = current.properties.enabled;
const old = await client.getSecret(name, { version: pinned });
seen.pinnedValue = old.value;
seen.scopes = scopesAsked;
try {
  await client.getSecret("no-such-secret");
  seen.missing = "found";
} catch (e) {
  seen.missing = `${e.statusCode} ${e.code}`;
}
const wrongAudience = new SecretClient(vaultUrl, credential("https://storage.azure.com/.default"), { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
try {
  await wrongAudience.getSecret(name);
  seen.wrongAudience = "accepted";
} catch (e) {
  seen.wrongAudience = `${e.statusCode}`;
}
console.log(JSON.stringify(seen));
