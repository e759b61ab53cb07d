// Test-only: Kubernetes' own JavaScript client (@kubernetes/client-node) against the emulator (server.mjs), to show
// it speaks the API the real server does. Reads a Secret, then watches it until the first event after the read and
// prints one JSON line: { ok, value (data[KEY] decoded), watched (the decoded value the watch delivered), type }
// or { ok: false, code }.
// Usage: node client.mjs SERVER TOKEN NAMESPACE NAME KEY [SET_URL]   (SET_URL: a hook to call once the watch is open)
import * as k8s from "@kubernetes/client-node";

const [server, token, namespace, name, key, setUrl, setBody] = process.argv.slice(2);
const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: "test", server, skipTLSVerify: true }],
  users: [{ name: "proxy", token }],
  contexts: [{ name: "test", cluster: "test", user: "proxy" }],
  currentContext: "test",
});
const api = kc.makeApiClient(k8s.CoreV1Api);
let secret;
try {
  secret = await api.readNamespacedSecret({ name, namespace });
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code ?? null, reason: (() => { try { return JSON.parse(e.body).reason; } catch { return null; } })() }));
  process.exit(0);
}
const value = Buffer.from(secret.data[key], "base64").toString("utf8");
if (!setUrl) {
  console.log(JSON.stringify({ ok: true, value, resourceVersion: secret.metadata.resourceVersion }));
  process.exit(0);
}
const watch = new k8s.Watch(kc);
const done = new Promise((resolve, reject) => {
  watch.watch(`/api/v1/namespaces/${namespace}/secrets`, { fieldSelector: `metadata.name=${name}`, resourceVersion: secret.metadata.resourceVersion },
    (type, object) => resolve({ type, watched: Buffer.from(object.data[key], "base64").toString("utf8") }),
    (err) => err && reject(err)).then((request) =>
    fetch(setUrl, { method: "POST", body: setBody }).then(() => request));
});
const event = await done;
console.log(JSON.stringify({ ok: true, value, ...event }));
process.exit(0);
