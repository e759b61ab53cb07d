// node-vault (the community Node client for HashiCorp Vault) driving the test project's Vault emulator:
// a Kubernetes login and a JWT login, a KV v2 read, a token renew-self, a dynamic secret's lease renewed and revoked,
// and a call without a token refused. Prints one JSON line with what it saw; exits non-zero on any surprise.
import vaultFactory from 'node-vault';

const [endpoint, k8sToken, jwt] = process.argv.slice(2);
const vault = vaultFactory({ apiVersion: 'v1', endpoint, namespace: 'team-a' });
const seen = {};

const k8s = await vault.kubernetesLogin({ role: 'proxy', jwt: k8sToken });
seen.kubernetesToken = typeof k8s.auth.client_token === 'string' && k8s.auth.client_token === vault.token;
seen.kubernetesTtl = k8s.auth.lease_duration;

const viaJwt = await vault.kubernetesLogin({ mount_point: 'jwt', role: 'proxy', jwt });
seen.jwtLogin = viaJwt.auth.client_token === vault.token;

const kv = await vault.read('secret/data/payments/api');
seen.kvField = kv.data.data.token;
seen.kvVersion = kv.data.metadata.version;
const pinned = await vault.read('secret/data/payments/api?version=1');
seen.kvPinned = pinned.data.data.token;

const renewed = await vault.tokenRenewSelf();
seen.renewSelfTtl = renewed.auth.lease_duration;

const creds = await vault.read('database/creds/orders');
seen.dynamicUser = creds.data.username;
const lease = await vault.write('sys/leases/renew', { lease_id: creds.lease_id });
seen.leaseRenewedTtl = lease.lease_duration;
await vault.write('sys/leases/revoke', { lease_id: creds.lease_id });
seen.revokedLease = creds.lease_id;

const anonymous = vaultFactory({ apiVersion: 'v1', endpoint });
try {
  await anonymous.read('secret/data/payments/api');
  seen.anonymous = 'allowed';
} catch (error) {
  seen.anonymous = error.response?.statusCode;
}

const forged = vaultFactory({ apiVersion: 'v1', endpoint });
try {
  await forged.kubernetesLogin({ mount_point: 'jwt', role: 'proxy', jwt: jwt.slice(0, -4) + 'AAAA' });
  seen.forgedJwt = 'accepted';
} catch (error) {
  seen.forgedJwt = error.response?.statusCode;
}
console.log(JSON.stringify(seen));
