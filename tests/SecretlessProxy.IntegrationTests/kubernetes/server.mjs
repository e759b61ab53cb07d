// Test-only: an emulator of the Kubernetes API server's Secret endpoints, started by the integration tests on
// 127.0.0.1 (see Infrastructure/KubernetesTestServer.cs), following the published API:
//   GET /api/v1/namespaces/NS/secrets/NAME                              -> a v1 Secret (data base64), or a v1 Status
//   GET /api/v1/namespaces/NS/secrets?watch=true&fieldSelector=metadata.name%3DNAME[&resourceVersion=RV]
//                                                                       -> a chunked stream of watch events, one JSON
//                                                                          object a line: {"type": ADDED|MODIFIED|DELETED, "object": Secret}
// Every request must carry "Authorization: Bearer TOKEN" with one of the configured tokens (401 Unauthorized Status
// otherwise), and the token's service account must be allowed the Secret (403 Forbidden Status otherwise).
// Test hooks (no token): POST /__set {namespace, name, data: {key: text}} creates or replaces a Secret (events go to
// watchers); POST /__delete {namespace, name}; GET /__requests gives the count of API requests by kind.
// Usage: node server.mjs CONFIG.json   (config: { tokens: [..], allowed: ["NS/NAME", ..], secrets: [{namespace, name, data}] })
// Prints "listening api=PORT".
import http from "node:http";
import fs from "node:fs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const tokens = new Set(config.tokens ?? []);
const allowed = new Set(config.allowed ?? []);
const secrets = new Map(); // "ns/name" -> Secret
let resourceVersion = 1000;
const watchers = new Set(); // { ns, name, res }
const counts = { get: 0, watch: 0, refused: 0 };

const b64 = (text) => Buffer.from(text, "utf8").toString("base64");

function put(ns, name, data) {
  const key = `${ns}/${name}`;
  const existing = secrets.get(key);
  resourceVersion++;
  const secret = {
    kind: "Secret",
    apiVersion: "v1",
    metadata: {
      name, namespace: ns, resourceVersion: String(resourceVersion),
      uid: existing?.metadata.uid ?? crypto.randomUUID(), creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    },
    type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
  secrets.set(key, secret);
  notify(ns, name, existing ? "MODIFIED" : "ADDED", secret);
}

function notify(ns, name, type, object) {
  for (const w of watchers) {
    if (w.ns === ns && w.name === name) w.res.write(JSON.stringify({ type, object }) + "\n");
  }
}

function status(res, code, reason, message) {
  res.statusCode = code;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }));
}

for (const s of config.secrets ?? []) put(s.namespace, s.name, s.data);

const readBody = (req) => new Promise((resolve) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => resolve(Buffer.concat(chunks).toString()));
});

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/__set" || url.pathname === "/__delete") {
    const body = JSON.parse(await readBody(req));
    if (url.pathname === "/__set") {
      put(body.namespace, body.name, body.data);
    } else {
      const secret = secrets.get(`${body.namespace}/${body.name}`);
      secrets.delete(`${body.namespace}/${body.name}`);
      resourceVersion++;
      if (secret) notify(body.namespace, body.name, "DELETED", { ...secret, metadata: { ...secret.metadata, resourceVersion: String(resourceVersion) } });
    }
    res.end(JSON.stringify({ resourceVersion: String(resourceVersion) }));
    return;
  }
  if (url.pathname === "/__requests") {
    res.end(JSON.stringify(counts));
    return;
  }
  const auth = req.headers["authorization"] ?? "";
  const token = auth.startsWith("Bearer ") ? auth.slice(7) : null;
  if (!token || !tokens.has(token)) {
    counts.refused++;
    console.log("api refused 401");
    return status(res, 401, "Unauthorized", "Unauthorized");
  }
  const one = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname);
  const list = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(url.pathname);
  if (req.method !== "GET" || (!one && !list)) return status(res, 404, "NotFound", "the server could not find the requested resource");
  const ns = decodeURIComponent((one ?? list)[1]);
  let name;
  if (one) {
    name = decodeURIComponent(one[2]);
  } else {
    const selector = /^metadata\.name=(.+)$/.exec(url.searchParams.get("fieldSelector") ?? "");
    if (!selector || url.searchParams.get("watch") !== "true")
      return status(res, 403, "Forbidden", `secrets is forbidden: User "system:serviceaccount:test:proxy" cannot list resource "secrets" in API group "" in the namespace "${ns}"`);
    name = selector[1];
  }
  if (!allowed.has(`${ns}/${name}`)) {
    counts.refused++;
    console.log("api refused 403");
    return status(res, 403, "Forbidden", `secrets "${name}" is forbidden: User "system:serviceaccount:test:proxy" cannot get resource "secrets" in API group "" in the namespace "${ns}"`);
  }
  const secret = secrets.get(`${ns}/${name}`);
  if (one) {
    counts.get++;
    console.log(`api get ${ns}/${name}`);
    if (!secret) return status(res, 404, "NotFound", `secrets "${name}" not found`);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(secret));
    return;
  }
  counts.watch++;
  console.log(`api watch ${ns}/${name} from ${url.searchParams.get("resourceVersion") ?? "now"}`);
  res.setHeader("content-type", "application/json");
  res.setHeader("transfer-encoding", "chunked");
  res.flushHeaders();
  const since = Number(url.searchParams.get("resourceVersion") ?? "0");
  // Without a resourceVersion a watch starts with the current state (ADDED); with one, only what is newer.
  if (secret && (!url.searchParams.get("resourceVersion") || Number(secret.metadata.resourceVersion) > since))
    res.write(JSON.stringify({ type: "ADDED", object: secret }) + "\n");
  const watcher = { ns, name, res };
  watchers.add(watcher);
  req.on("close", () => watchers.delete(watcher));
});

server.listen(0, "127.0.0.1", () => console.log(`listening api=${server.address().port}`));
