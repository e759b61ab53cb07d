// Test-only AWS stand-ins, started by the integration tests on 127.0.0.1 (see Infrastructure/AwsTestServer.cs).
//
// 1. An S3-like upstream that VERIFIES SigV4: for every request it recomputes the signature with AWS's own
//    @smithy/signature-v4 (the signer inside the AWS SDK for JavaScript, independent of the proxy's C# signer),
//    over the method, path, query, signed headers and payload hash the request actually carries, and compares.
//    A match answers 200 with a JSON summary; anything else answers 403 SignatureDoesNotMatch (or another S3
//    error code), so a wrong signature fails the test.
// 2. A small STS (AWS Query protocol, as the AWS SDK speaks it): AssumeRole (its own SigV4 signature checked
//    against the configured base keys) and AssumeRoleWithWebIdentity (the token must be one of the configured
//    ones). It issues random session credentials, which the upstream then accepts, and prints each issue
//    on stdout ("issued {json}") so the tests know the values to look for in logs (canaries).
//
// Usage: node server.mjs CONFIG.json   (config: { baseKeys: [{accessKeyId, secretAccessKey}], webIdentityTokens: [..],
//   durationSeconds, stsMode: "ok" | "fail500" | "deny", secrets: [..] }).  Prints "listening sts=PORT s3=PORT secretsmanager=PORT".
// POST /__mode on the STS port with body ok|fail500|deny switches the STS behaviour.
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import { SignatureV4 } from "@smithy/signature-v4";
import { Hash } from "@smithy/hash-node";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const keys = new Map(); // accessKeyId -> { secretAccessKey, sessionToken? }
for (const k of config.baseKeys ?? []) keys.set(k.accessKeyId, { secretAccessKey: k.secretAccessKey });
let stsMode = config.stsMode ?? "ok";
const Sha256 = Hash.bind(null, "sha256");

const readBody = (req) => new Promise((resolve, reject) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => resolve(Buffer.concat(chunks)));
  req.on("error", reject);
});

function parseAuthorization(value) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;\-]+), ?Signature=([0-9a-f]{64})$/.exec(value ?? "");
  return m && { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(";"), signature: m[6] };
}

function parseAmzDate(value) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
  return m && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

// Recomputes the signature of a received request. Returns { ok, code, message, auth, credentials }.
async function verify(req, body) {
  const auth = parseAuthorization(req.headers["authorization"]);
  if (!auth) return { ok: false, code: "AccessDenied", message: "no AWS4-HMAC-SHA256 Authorization header" };
  const credentials = keys.get(auth.accessKeyId);
  if (!credentials) return { ok: false, code: "InvalidAccessKeyId", message: "unknown access key id" };
  const signingDate = parseAmzDate(req.headers["x-amz-date"]);
  if (!signingDate) return { ok: false, code: "AccessDenied", message: "no valid X-Amz-Date" };
  if (Math.abs(Date.now() - signingDate.getTime()) > 15 * 60 * 1000) return { ok: false, code: "RequestTimeTooSkewed", message: "X-Amz-Date too far from now" };
  if (credentials.sessionToken !== undefined && req.headers["x-amz-security-token"] !== credentials.sessionToken)
    return { ok: false, code: "InvalidToken", message: "session credentials without their X-Amz-Security-Token" };
  if (!auth.signedHeaders.includes("host")) return { ok: false, code: "AccessDenied", message: "host is not signed" };
  const contentSha = req.headers["x-amz-content-sha256"];
  if (auth.service === "s3") {
    if (!contentSha) return { ok: false, code: "InvalidRequest", message: "S3 requires X-Amz-Content-Sha256" };
    if (contentSha !== "UNSIGNED-PAYLOAD" && contentSha !== crypto.createHash("sha256").update(body).digest("hex"))
      return { ok: false, code: "XAmzContentSHA256Mismatch", message: "the body does not match X-Amz-Content-Sha256" };
  }
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith("x-amz-") && !auth.signedHeaders.includes(name))
      return { ok: false, code: "AccessDenied", message: `x-amz header ${name} is not signed` };
  }
  // Only the headers the request says it signed, with the values it carries.
  const headers = {};
  for (const name of auth.signedHeaders) {
    const value = req.headersDistinct[name];
    if (value === undefined) return { ok: false, code: "AccessDenied", message: `signed header ${name} is missing` };
    headers[name] = value.join(",");
  }
  const url = req.url;
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const query = {};
  try {
    for (const part of (q < 0 ? "" : url.slice(q + 1)).split("&")) {
      if (!part) continue;
      const e = part.indexOf("=");
      const k = decodeURIComponent(e < 0 ? part : part.slice(0, e));
      const v = e < 0 ? "" : decodeURIComponent(part.slice(e + 1));
      query[k] = k in query ? [].concat(query[k], v) : v;
    }
  } catch {
    return { ok: false, code: "InvalidURI", message: "the query does not decode" };
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken },
    region: auth.region, service: auth.service, sha256: Sha256, uriEscapePath: auth.service !== "s3", applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: req.method, protocol: "http:", hostname: headers.host, path, query, headers: { ...headers }, body: body.length ? body : undefined },
    { signingDate });
  const expected = parseAuthorization(signed.headers["authorization"]);
  if (expected.signedHeaders.join(";") !== auth.signedHeaders.join(";"))
    return { ok: false, code: "SignatureDoesNotMatch", message: `signed headers differ: recomputed ${expected.signedHeaders.join(";")}` };
  if (expected.signature !== auth.signature) return { ok: false, code: "SignatureDoesNotMatch", message: "the signature does not match" };
  return { ok: true, auth, credentials };
}

const s3 = http.createServer(async (req, res) => {
  const body = await readBody(req);
  let result;
  try {
    result = await verify(req, body);
  } catch (e) {
    result = { ok: false, code: "InternalError", message: String(e?.message ?? e) };
  }
  console.log(`s3 ${req.method} ${result.ok ? "verified" : "refused " + result.code}`);
  res.setHeader("content-type", "application/json");
  if (!result.ok) {
    res.statusCode = 403;
    res.end(JSON.stringify({ error: result.code, message: result.message }));
    return;
  }
  res.end(JSON.stringify({
    verified: true,
    method: req.method,
    url: req.url,
    accessKeyId: result.auth.accessKeyId,
    service: result.auth.service,
    region: result.auth.region,
    signedHeaders: result.auth.signedHeaders,
    sessionCredentials: result.credentials.sessionToken !== undefined,
    securityTokenMatches: result.credentials.sessionToken !== undefined && req.headers["x-amz-security-token"] === result.credentials.sessionToken,
    contentSha256: req.headers["x-amz-content-sha256"] ?? null,
    bodyLength: body.length,
    headerNames: Object.keys(req.headers),
  }));
});

const xmlEscape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const random = (alphabet, n) => Array.from(crypto.randomBytes(n), (b) => alphabet[b % alphabet.length]).join("");

function stsError(res, status, code, message) {
  res.statusCode = status;
  res.setHeader("content-type", "text/xml");
  res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`);
}

const sts = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === "/__mode") {
    stsMode = body.toString().trim();
    res.end("ok");
    return;
  }
  const form = new URLSearchParams(body.toString());
  const action = form.get("Action");
  console.log(`sts ${action} mode=${stsMode}`);
  if (stsMode === "fail500") return stsError(res, 500, "InternalFailure", "the test STS is failing on purpose");
  if (stsMode === "deny") return stsError(res, 403, "AccessDenied", "not authorized to perform sts:AssumeRole (test)");
  if (action === "AssumeRole") {
    const check = await verify(req, body);
    if (!check.ok) return stsError(res, 403, check.code === "InvalidAccessKeyId" ? "InvalidClientTokenId" : "SignatureDoesNotMatch", check.message);
  } else if (action === "AssumeRoleWithWebIdentity") {
    if (!(config.webIdentityTokens ?? []).includes(form.get("WebIdentityToken")))
      return stsError(res, 400, "InvalidIdentityToken", "the web identity token is not valid (test)");
  } else {
    return stsError(res, 400, "InvalidAction", "unsupported action");
  }
  const roleArn = form.get("RoleArn");
  const session = form.get("RoleSessionName");
  const duration = Number(form.get("DurationSeconds") ?? 3600);
  const issued = {
    action,
    roleArn,
    roleSessionName: session,
    externalId: form.get("ExternalId"),
    durationSeconds: duration,
    accessKeyId: "ASIA" + random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    secretAccessKey: random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40),
    sessionToken: "IQoJb3JpZ2luX2VjE" + random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 200),
  };
  keys.set(issued.accessKeyId, { secretAccessKey: issued.secretAccessKey, sessionToken: issued.sessionToken });
  console.log("issued " + JSON.stringify(issued));
  const expiration = new Date(Date.now() + (config.durationSeconds ?? duration) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const role = roleArn.split("/").pop();
  const extra = action === "AssumeRoleWithWebIdentity"
    ? "<SubjectFromWebIdentityToken>system:serviceaccount:test:app</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><Provider>test-issuer</Provider>"
    : "<PackedPolicySize>0</PackedPolicySize>";
  res.setHeader("content-type", "text/xml");
  res.end(`<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><${action}Result>` +
    `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(issued.secretAccessKey)}</SecretAccessKey>` +
    `<SessionToken>${xmlEscape(issued.sessionToken)}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
    `<AssumedRoleUser><AssumedRoleId>AROATEST:${xmlEscape(session)}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/${xmlEscape(role)}/${xmlEscape(session)}</Arn></AssumedRoleUser>` +
    `${extra}</${action}Result><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></${action}Response>`);
});

// 3. Secrets Manager (JSON 1.1 protocol, as the AWS SDK speaks it): GetSecretValue only, every request's SigV4
//    signature recomputed as above (service "secretsmanager"), errors in AWS's JSON shape ({"__type", "message"} and
//    x-amzn-ErrorType). Secrets come from config.secrets ([{ name, versions: [{ versionId, stages, secretString }] }]).
//    POST /__rotate { name, secretString } adds a version that takes AWSCURRENT (the old one becomes AWSPREVIOUS);
//    POST /__stage { name, secretString } adds a version labelled AWSPENDING; POST /__mode ok|fail500 switches it.
const secrets = new Map();
for (const s of config.secrets ?? []) {
  secrets.set(s.name, {
    name: s.name,
    arn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${s.name}-${random("abcdefghijklmnopqrstuvwxyz", 6)}`,
    versions: s.versions.map((v) => ({ versionId: v.versionId ?? crypto.randomUUID(), stages: v.stages, secretString: v.secretString, created: Date.now() / 1000 })),
  });
}
let smMode = "ok";

function smError(res, status, code, message) {
  res.statusCode = status;
  res.setHeader("content-type", "application/x-amz-json-1.1");
  res.setHeader("x-amzn-requestid", crypto.randomUUID());
  res.setHeader("x-amzn-errortype", `${code}:http://internal.amazon.com/coral/com.amazonaws.secretsmanager/`);
  res.end(JSON.stringify({ __type: code, message }));
}

function findSecret(id) {
  for (const s of secrets.values()) if (s.name === id || s.arn === id) return s;
  return undefined;
}

function addVersion(secret, secretString, stage) {
  for (const v of secret.versions) {
    if (stage === "AWSCURRENT") {
      v.stages = v.stages.filter((x) => x !== "AWSPREVIOUS");
      if (v.stages.includes("AWSCURRENT")) v.stages = v.stages.filter((x) => x !== "AWSCURRENT").concat("AWSPREVIOUS");
    } else {
      v.stages = v.stages.filter((x) => x !== stage);
    }
  }
  const version = { versionId: crypto.randomUUID(), stages: [stage], secretString, created: Date.now() / 1000 };
  secret.versions.push(version);
  secret.versions = secret.versions.filter((v) => v.stages.length > 0);
  return version;
}

const sm = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === "/__mode") {
    smMode = body.toString().trim();
    res.end("ok");
    return;
  }
  if (req.url === "/__rotate" || req.url === "/__stage") {
    const { name, secretString } = JSON.parse(body.toString());
    const version = addVersion(secrets.get(name), secretString, req.url === "/__rotate" ? "AWSCURRENT" : "AWSPENDING");
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ versionId: version.versionId }));
    return;
  }
  if (smMode === "fail500") return smError(res, 500, "InternalServiceError", "the test Secrets Manager is failing on purpose");
  if (req.method !== "POST" || req.url !== "/") return smError(res, 404, "UnknownOperationException", "unknown operation");
  const target = req.headers["x-amz-target"];
  if (!req.headers["authorization"]) return smError(res, 400, "MissingAuthenticationTokenException", "Missing Authentication Token");
  const check = await verify(req, body);
  if (!check.ok) {
    console.log(`sm refused ${check.code}`);
    if (check.code === "InvalidAccessKeyId") return smError(res, 400, "UnrecognizedClientException", "The security token included in the request is invalid.");
    if (check.code === "InvalidToken") return smError(res, 400, "UnrecognizedClientException", "The security token included in the request is invalid.");
    if (check.code === "RequestTimeTooSkewed") return smError(res, 400, "InvalidSignatureException", "Signature expired.");
    return smError(res, 400, check.code === "SignatureDoesNotMatch" ? "InvalidSignatureException" : "IncompleteSignatureException",
      "The request signature we calculated does not match the signature you provided.");
  }
  if (check.auth.service !== "secretsmanager")
    return smError(res, 400, "InvalidSignatureException", `Credential should be scoped to correct service: 'secretsmanager'.`);
  if (target !== "secretsmanager.GetSecretValue") return smError(res, 400, "UnknownOperationException", "unsupported operation (the test server has GetSecretValue only)");
  if (!/^application\/x-amz-json-1\.1/.test(req.headers["content-type"] ?? "")) return smError(res, 400, "SerializationException", "wrong content type");
  let input;
  try {
    input = JSON.parse(body.toString());
  } catch {
    return smError(res, 400, "SerializationException", "the body is not JSON");
  }
  if (typeof input.SecretId !== "string" || input.SecretId.length === 0)
    return smError(res, 400, "InvalidParameterException", "SecretId is required");
  const secret = findSecret(input.SecretId);
  if (!secret) return smError(res, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
  let version;
  if (input.VersionId !== undefined) {
    version = secret.versions.find((v) => v.versionId === input.VersionId);
    if (version && input.VersionStage !== undefined && !version.stages.includes(input.VersionStage)) version = undefined;
    if (!version) return smError(res, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + input.VersionId);
  } else {
    const stage = input.VersionStage ?? "AWSCURRENT";
    version = secret.versions.find((v) => v.stages.includes(stage));
    if (!version) return smError(res, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + stage);
  }
  console.log(`sm GetSecretValue ${secret.name} ${version.versionId} by ${check.auth.accessKeyId}`);
  res.setHeader("content-type", "application/x-amz-json-1.1");
  res.setHeader("x-amzn-requestid", crypto.randomUUID());
  res.end(JSON.stringify({
    ARN: secret.arn, Name: secret.name, VersionId: version.versionId, SecretString: version.secretString,
    VersionStages: version.stages, CreatedDate: version.created,
  }));
});

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
const [stsPort, s3Port, smPort] = await Promise.all([listen(sts), listen(s3), listen(sm)]);
console.log(`listening sts=${stsPort} s3=${s3Port} secretsmanager=${smPort}`);
