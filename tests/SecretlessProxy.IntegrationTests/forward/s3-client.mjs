// The AWS SDK for JavaScript v3 (S3) through the forward proxy with a proxy agent. It signs with a dummy key it
// was given; the proxy re-signs with the keys only it holds. The interception CA comes from NODE_EXTRA_CA_CERTS
// (https-proxy-agent's own options apply to the hop to the proxy, not to the tunnelled TLS). Usage:
//   NODE_EXTRA_CA_CERTS=ca.pem node s3-client.mjs PROXY_URL ENDPOINT BUCKET KEY BODY
// Prints one JSON line: { put, keys, body } or { error, status }.
import { S3Client, PutObjectCommand, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { HttpsProxyAgent } from 'https-proxy-agent';

const [proxy, endpoint, bucket, key, body] = process.argv.slice(2);
const agent = new HttpsProxyAgent(proxy);
const s3 = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'AKIDDUMMYNOTASECRET0', secretAccessKey: 'dummy-not-a-secret' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler({ httpsAgent: agent, httpAgent: agent }),
});
try {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'text/plain' }));
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  console.log(JSON.stringify({
    put: put.$metadata.httpStatusCode,
    keys: (list.Contents ?? []).map(o => o.Key),
    body: await get.Body.transformToString(),
  }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.name ?? error) + ': ' + String(error?.message ?? ''), status: error?.$metadata?.httpStatusCode ?? null }));
}
