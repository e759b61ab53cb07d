// Test-only: AWS's own Secrets Manager client (@aws-sdk/client-secrets-manager) calling GetSecretValue on the test
// server (server.mjs), to show the emulator speaks the protocol the real service does: the SDK signs, sends, and
// parses the answer or the JSON error shape. Prints one JSON line: { ok, versionId, secretString, stages } or
// { ok: false, name, status }.
// Usage: node secretsmanager-client.mjs ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY SECRET_ID [VERSION_STAGE]
import { SecretsManagerClient, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";

const [endpoint, accessKeyId, secretAccessKey, secretId, versionStage] = process.argv.slice(2);
const client = new SecretsManagerClient({ endpoint, region: "us-east-1", credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
try {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: versionStage || undefined }));
  console.log(JSON.stringify({ ok: true, versionId: out.VersionId, secretString: out.SecretString, stages: out.VersionStages, name: out.Name }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, name: e.name, status: e.$metadata?.httpStatusCode ?? null }));
}
