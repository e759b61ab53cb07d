// Test-only: s3rver (a fake S3 from the npm registry) on 127.0.0.1 with one bucket. It stores and serves objects
// and checks the access key id of every SigV4 request (its own account S3RVER/S3RVER); it does not recompute V4
// signatures (server.mjs does that), so this is the "does S3 work through the proxy" check.
// Usage: node s3rver.mjs DIRECTORY BUCKET   -> prints "listening PORT"
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
console.log(`listening ${port}`);
process.on('SIGTERM', async () => { await server.close(); process.exit(0); });
