// hashi-vault-js (npm) against the real hush binary in dev mode. Its methods take the token as
// their first argument and answer the `auth` or `data` part of the response. It has none for
// policies, mounts, audit devices, KV v1, enabling auth methods, AppRole roles or wrapping: those
// calls go through its own axios instance (`vault.instance`, already aimed at `/v1`), as its users
// would make them.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import Vault from 'hashi-vault-js';

import { ROOT, startHush } from './hush.mjs';

let hush;
let vault;

before(async () => {
  hush = await startHush();
  // The default timeout (1 s) is too short for a loaded CI machine.
  vault = new Vault({ https: false, baseUrl: `${hush.url}/v1`, timeout: 10000 });
});

after(async () => {
  await hush?.stop();
});

async function call(method, url, { token = ROOT, data, headers = {} } = {}) {
  const res = await vault.instance({ method, url, data, headers: { 'X-Vault-Token': token, ...headers } });
  return res.data;
}

async function failsWith(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err.response, `expected an API error, got ${err}`);
    return err.response.status;
  }
  assert.fail('expected the call to fail');
}

// updateKVSecret console.logs the whole axios response of a failed write before it throws.
async function quietly(call) {
  const log = console.log;
  console.log = () => {};
  try {
    return await call();
  } finally {
    console.log = log;
  }
}

async function newToken(params) {
  return vault.createToken(ROOT, params);
}

test('hashi-vault-js: sys: healthCheck and sealStatus', async () => {
  const health = await vault.healthCheck();
  assert.equal(health.initialized, true);
  assert.equal(health.sealed, false);
  assert.equal(health.standby, false);
  assert.match(health.version, /^\d+\.\d+\.\d+/);

  const seal = await vault.sealStatus();
  assert.equal(seal.sealed, false);
  assert.equal(seal.initialized, true);
  assert.equal(seal.type, 'shamir');
  assert.equal(seal.t, 1);
  assert.equal(seal.n, 1);

  assert.deepEqual(await call('get', 'sys/init'), { initialized: true });
});

test('hashi-vault-js: KV v2 at secret/: cas writes, versions, metadata, list, delete, destroy', async () => {
  const created = await vault.createKVSecret(ROOT, 'team/api', { key: 'a1', url: 'https://a' });
  assert.equal(created.version, 1);
  // createKVSecret sends cas=0, which only a new secret passes.
  assert.equal(await failsWith(vault.createKVSecret(ROOT, 'team/api', { key: 'again' })), 400);
  const updated = await vault.updateKVSecret(ROOT, 'team/api', { key: 'a2', url: 'https://a' }, 1);
  assert.equal(updated.version, 2);
  assert.equal(await failsWith(quietly(() => vault.updateKVSecret(ROOT, 'team/api', { key: 'stale' }, 1))), 400);
  await vault.createKVSecret(ROOT, 'team/sub/db', { dsn: 'postgres://x' });

  const latest = await vault.readKVSecret(ROOT, 'team/api');
  assert.deepEqual(latest.data, { key: 'a2', url: 'https://a' });
  assert.equal(latest.metadata.version, 2);
  const first = await vault.readKVSecret(ROOT, 'team/api', 1);
  assert.deepEqual(first.data, { key: 'a1', url: 'https://a' });

  await vault.createKVSecretMeta(ROOT, 'team/api', {
    max_versions: 7, custom_metadata: { owner: 'payments' },
  });
  const meta = await vault.readKVSecretMeta(ROOT, 'team/api');
  assert.equal(meta.current_version, 2);
  assert.equal(meta.max_versions, 7);
  assert.deepEqual(meta.custom_metadata, { owner: 'payments' });
  assert.deepEqual(Object.keys(meta.versions).sort(), ['1', '2']);
  await vault.updateKVSecretMeta(ROOT, 'team/api', { custom_metadata: { owner: 'billing' } });
  assert.deepEqual((await vault.readKVSecretMeta(ROOT, 'team/api')).custom_metadata, { owner: 'billing' });

  assert.deepEqual((await vault.listKVSecrets(ROOT, 'team')).keys, ['api', 'sub/']);
  assert.ok((await vault.listKVSecrets(ROOT)).keys.includes('team/'));

  await vault.deleteLatestVerKVSecret(ROOT, 'team/api');
  assert.equal(await failsWith(vault.readKVSecret(ROOT, 'team/api')), 404);
  await vault.undeleteVersionsKVSecret(ROOT, 'team/api', [2]);
  assert.equal((await vault.readKVSecret(ROOT, 'team/api')).data.key, 'a2');
  await vault.deleteVersionsKVSecret(ROOT, 'team/api', [1]);
  assert.notEqual((await vault.readKVSecretMeta(ROOT, 'team/api')).versions['1'].deletion_time, '');
  await vault.destroyVersionsKVSecret(ROOT, 'team/api', [1]);
  assert.equal((await vault.readKVSecretMeta(ROOT, 'team/api')).versions['1'].destroyed, true);
  assert.equal(await failsWith(vault.readKVSecret(ROOT, 'team/api', 1)), 404);

  await vault.eliminateKVSecret(ROOT, 'team/api');
  assert.equal(await failsWith(vault.readKVSecretMeta(ROOT, 'team/api')), 404);
  assert.deepEqual((await vault.listKVSecrets(ROOT, 'team')).keys, ['sub/']);
});

test('hashi-vault-js: KV v2 engine config: read and update', async () => {
  await vault.updateKVEngineConfig(ROOT, {
    max_versions: 4, cas_required: false, delete_version_after: '1h',
  });
  const cfg = await vault.readKVEngineConfig(ROOT);
  assert.equal(cfg.max_versions, 4);
  assert.equal(cfg.cas_required, false);
  assert.equal(cfg.delete_version_after, '1h0m0s');
  await vault.updateKVEngineConfig(ROOT, { max_versions: 0, delete_version_after: '0s' });
  assert.equal((await vault.readKVEngineConfig(ROOT)).max_versions, 0);
});

test('hashi-vault-js: KV v1 on a new mount', async () => {
  await call('post', 'sys/mounts/legacy', { data: { type: 'kv', options: { version: '1' } } });
  await call('post', 'legacy/app/config', { data: { user: 'svc', password: 'p1' } });
  assert.deepEqual((await call('get', 'legacy/app/config')).data, { user: 'svc', password: 'p1' });
  assert.deepEqual((await call('list', 'legacy/app')).data.keys, ['config']);
  await call('delete', 'legacy/app/config');
  assert.equal(await failsWith(call('get', 'legacy/app/config')), 404);
  // The KV v2 methods on a v1 mount reach paths that do not exist there.
  assert.equal(await failsWith(vault.readKVSecret(ROOT, 'app/config', undefined, 'legacy')), 404);
  await call('delete', 'sys/mounts/legacy');
});

test('hashi-vault-js: tokens: create, lookup, renew, accessors, revoke', async () => {
  const auth = await newToken({
    policies: ['ops'], ttl: '1h', meta: { team: 'red' }, display_name: 'deployer',
  });
  const { client_token: token, accessor } = auth;
  assert.ok(token && accessor && token !== accessor);
  assert.deepEqual(auth.policies, ['default', 'ops']);
  assert.equal(auth.lease_duration, 3600);
  assert.equal(auth.renewable, true);
  assert.equal(auth.token_type, 'service');
  assert.deepEqual(auth.metadata, { team: 'red' });

  const info = await vault.lookupToken(ROOT, token);
  assert.equal(info.id, token);
  assert.equal(info.accessor, accessor);
  assert.equal(info.display_name, 'token-deployer');
  assert.deepEqual(info.policies, ['default', 'ops']);
  assert.ok(info.ttl > 3500 && info.ttl <= 3600, `ttl ${info.ttl}`);
  const self = await vault.lookupSelfToken(token);
  assert.equal(self.id, token);
  assert.deepEqual(self.meta, { team: 'red' });

  const renewed = await vault.renewToken(ROOT, token, '2h');
  assert.equal(renewed.client_token, token);
  assert.equal(renewed.lease_duration, 7200);
  assert.equal((await vault.renewSelfToken(token, '30m')).lease_duration, 1800);
  assert.equal((await vault.renewAccessor(ROOT, accessor, '45m')).lease_duration, 2700);

  const byAccessor = await vault.lookupAccessor(ROOT, accessor);
  assert.equal(byAccessor.accessor, accessor);
  assert.equal(byAccessor.id, '', 'a lookup by accessor must not reveal the token');
  assert.ok((await vault.listAccessors(ROOT)).keys.includes(accessor));

  await vault.revokeToken(ROOT, token);
  assert.equal(await failsWith(vault.lookupSelfToken(token)), 403);

  const second = await newToken({ policies: ['ops'] });
  await vault.revokeAccessor(ROOT, second.accessor);
  assert.equal(await failsWith(vault.lookupSelfToken(second.client_token)), 403);
  const third = await newToken({ ttl: '5m' });
  await vault.revokeSelfToken(third.client_token);
  assert.equal(await failsWith(vault.lookupSelfToken(third.client_token)), 403);

  // A role-based creation goes to auth/token/create/<role>.
  await call('post', 'auth/token/roles/ci', {
    data: { allowed_policies: ['ops'], orphan: true, token_period: '1h' },
  });
  const fromRole = await newToken({ role_name: 'ci', policies: ['ops'] });
  assert.equal(fromRole.orphan, true);
  assert.equal(fromRole.lease_duration, 3600);
  assert.equal((await vault.lookupToken(ROOT, fromRole.client_token)).role, 'ci');
});

test('hashi-vault-js: policies: HCL write, read, list, 403s, delete', async () => {
  const policy = 'path "secret/data/reports/*" {\n  capabilities = ["read", "list"]\n}\n';
  await call('put', 'sys/policies/acl/reports', { data: { policy } });
  const read = await call('get', 'sys/policies/acl/reports');
  assert.equal(read.data.name, 'reports');
  assert.equal(read.data.policy, policy);
  assert.ok((await call('list', 'sys/policies/acl')).data.keys.includes('reports'));

  await vault.createKVSecret(ROOT, 'reports/q1', { revenue: '10' });
  await vault.createKVSecret(ROOT, 'finance/q1', { cost: '3' });
  const token = (await newToken({ policies: ['reports'] })).client_token;
  assert.deepEqual((await vault.readKVSecret(token, 'reports/q1')).data, { revenue: '10' });

  const denied = await vault.readKVSecret(token, 'finance/q1').catch((err) => err);
  assert.equal(denied.response.status, 403);
  assert.equal(denied.isVaultError, true);
  const write = () => vault.updateKVSecret(token, 'reports/q1', { revenue: '11' }, 1);
  assert.equal(await failsWith(quietly(write)), 403);
  assert.equal(await failsWith(call('put', 'sys/policies/acl/mine', { token, data: { policy } })), 403);

  const caps = await vault.sysCapabilitiesSelf(token, ['secret/data/reports/q1', 'secret/data/finance/q1']);
  assert.deepEqual(caps['secret/data/reports/q1'], ['list', 'read']);
  assert.deepEqual(caps['secret/data/finance/q1'], ['deny']);
  const rootCaps = await vault.sysCapabilities(ROOT, token, ['secret/data/reports/q1']);
  assert.deepEqual(rootCaps.capabilities, ['list', 'read']);

  await call('delete', 'sys/policies/acl/reports');
  assert.equal(await failsWith(call('get', 'sys/policies/acl/reports')), 404);
  assert.equal(await failsWith(vault.readKVSecret(token, 'reports/q1')), 403);
  assert.equal(await failsWith(call('put', 'sys/policies/acl/bad', { data: { policy: 'path {' } })), 400);
});

test('hashi-vault-js: userpass: enable, create a user, log in, use the token', async () => {
  await call('post', 'sys/auth/userpass', { data: { type: 'userpass' } });
  await call('put', 'sys/policies/acl/bob', {
    data: { policy: 'path "secret/data/bob/*" { capabilities = ["create", "update", "read"] }' },
  });
  await vault.createUserpassUser(ROOT, 'bob', 'first-pass', ['bob']);
  const user = await vault.readUserpassUser(ROOT, 'bob');
  assert.deepEqual(user.token_policies, ['bob']);
  assert.equal(user.password, undefined, 'the password is never read back');
  assert.deepEqual((await vault.listUserpassUsers(ROOT)).keys, ['bob']);

  const login = await vault.loginWithUserpass('bob', 'first-pass');
  assert.deepEqual(login.policies, ['bob', 'default']);
  assert.deepEqual(login.metadata, { username: 'bob' });
  const token = login.client_token;
  await vault.createKVSecret(token, 'bob/todo', { item: 'ship it' });
  assert.deepEqual((await vault.readKVSecret(token, 'bob/todo')).data, { item: 'ship it' });
  assert.equal(await failsWith(vault.readKVSecret(token, 'reports/q1')), 403);
  assert.equal((await vault.lookupSelfToken(token)).path, 'auth/userpass/login/bob');

  await vault.updateUserpassPassword(ROOT, 'bob', 'second-pass');
  assert.equal(await failsWith(vault.loginWithUserpass('bob', 'first-pass')), 400);
  await vault.updateUserpassPolicies(ROOT, 'bob', ['bob', 'extra']);
  const again = await vault.loginWithUserpass('bob', 'second-pass');
  assert.deepEqual(again.policies, ['bob', 'default', 'extra']);

  await vault.deleteUserpassUser(ROOT, 'bob');
  assert.equal(await failsWith(vault.loginWithUserpass('bob', 'second-pass')), 400);
  assert.equal(await failsWith(vault.readUserpassUser(ROOT, 'bob')), 404);
});

test('hashi-vault-js: approle: enable, role, role-id, secret-id, login', async () => {
  await call('post', 'sys/auth/approle', { data: { type: 'approle' } });
  await call('put', 'sys/policies/acl/worker', {
    data: { policy: 'path "secret/data/jobs/*" { capabilities = ["read"] }' },
  });
  await call('post', 'auth/approle/role/worker', { data: { token_policies: ['worker'], token_ttl: '10m' } });
  const roleId = (await call('get', 'auth/approle/role/worker/role-id')).data.role_id;
  assert.match(roleId, /^[0-9a-f-]{36}$/);

  const secret = await vault.generateAppRoleSecretId(ROOT, 'worker', '{"host":"runner-1"}');
  assert.ok(secret.secret_id && secret.secret_id_accessor);
  const lookup = await vault.readAppRoleSecretId(ROOT, 'worker', secret.secret_id);
  assert.equal(lookup.secret_id_accessor, secret.secret_id_accessor);
  assert.deepEqual(lookup.metadata, { host: 'runner-1' });

  await vault.createKVSecret(ROOT, 'jobs/nightly', { cron: '0 3 * * *' });
  const login = await vault.loginWithAppRole(roleId, secret.secret_id);
  assert.deepEqual(login.policies, ['default', 'worker']);
  assert.equal(login.lease_duration, 600);
  assert.deepEqual(login.metadata, { host: 'runner-1', role_name: 'worker' });
  const job = await vault.readKVSecret(login.client_token, 'jobs/nightly');
  assert.deepEqual(job.data, { cron: '0 3 * * *' });

  assert.equal(await failsWith(vault.loginWithAppRole(roleId, 'not-a-secret-id')), 400);
  await vault.destroyAppRoleSecretId(ROOT, 'worker', secret.secret_id);
  assert.equal(await failsWith(vault.loginWithAppRole(roleId, secret.secret_id)), 400);
});

test('hashi-vault-js: response wrapping: X-Vault-Wrap-TTL, unwrap once', async () => {
  await vault.createKVSecret(ROOT, 'handoff', { otp: '778899' });
  const wrapped = await call('get', 'secret/data/handoff', { headers: { 'X-Vault-Wrap-TTL': '2m' } });
  assert.equal(wrapped.data, null);
  assert.equal(wrapped.wrap_info.ttl, 120);
  assert.equal(wrapped.wrap_info.creation_path, 'secret/data/handoff');
  const wrapToken = wrapped.wrap_info.token;

  const wrapInfo = await vault.lookupToken(ROOT, wrapToken);
  assert.deepEqual(wrapInfo.policies, ['response-wrapping']);
  // Its one policy lets it unwrap, not look itself up.
  assert.equal(await failsWith(vault.lookupSelfToken(wrapToken)), 403);
  const lookup = await call('post', 'sys/wrapping/lookup', { data: { token: wrapToken } });
  assert.equal(lookup.data.creation_path, 'secret/data/handoff');

  const unwrapped = await call('post', 'sys/wrapping/unwrap', { token: wrapToken });
  assert.deepEqual(unwrapped.data.data, { otp: '778899' });
  // Vault answers a spent wrapping token with 400, sent as the token or in the body alike.
  for (const spent of [{ token: wrapToken }, { data: { token: wrapToken } }]) {
    const err = await call('post', 'sys/wrapping/unwrap', spent).catch((e) => e);
    assert.equal(err.response.status, 400);
    assert.match(err.response.data.errors[0], /wrapping token is not valid or does not exist/);
  }
});

test('hashi-vault-js: mounts: mount, list, tune, read config, unmount', async () => {
  await call('post', 'sys/mounts/billing', {
    data: { type: 'kv', description: 'billing', options: { version: '2' } },
  });
  const mounts = (await call('get', 'sys/mounts')).data;
  assert.equal(mounts['billing/'].type, 'kv');
  assert.deepEqual(mounts['billing/'].options, { version: '2' });

  // The client's KV v2 methods on the new mount, by their mount argument.
  await vault.createKVSecret(ROOT, 'invoice', { total: '99' }, 'billing');
  assert.deepEqual((await vault.readKVSecret(ROOT, 'invoice', undefined, 'billing')).data, { total: '99' });
  assert.deepEqual((await vault.listKVSecrets(ROOT, undefined, 'billing')).keys, ['invoice']);
  // And by the constructor's rootPath.
  const billing = new Vault({ baseUrl: `${hush.url}/v1`, rootPath: 'billing', timeout: 10000 });
  assert.deepEqual((await billing.readKVSecret(ROOT, 'invoice')).data, { total: '99' });

  await call('post', 'sys/mounts/billing/tune', { data: { default_lease_ttl: '30m', max_lease_ttl: '1h' } });
  const tune = await call('get', 'sys/mounts/billing/tune');
  assert.equal(tune.data.default_lease_ttl, 1800);
  assert.equal(tune.data.max_lease_ttl, 3600);
  assert.equal(await failsWith(call('post', 'sys/mounts/billing', { data: { type: 'kv' } })), 400);

  await call('delete', 'sys/mounts/billing');
  assert.equal((await call('get', 'sys/mounts')).data['billing/'], undefined);
  assert.equal(await failsWith(vault.readKVSecret(ROOT, 'invoice', undefined, 'billing')), 404);
});

test('hashi-vault-js: audit: file device, its entries, disable', async () => {
  const file = join(hush.workdir, 'hashi-audit.log');
  await call('put', 'sys/audit/js-file', { data: { type: 'file', options: { file_path: file } } });
  const devices = (await call('get', 'sys/audit')).data;
  assert.equal(devices['js-file/'].type, 'file');
  assert.equal(devices['js-file/'].options.file_path, file);

  const marker = `audit-${randomUUID()}`;
  await vault.createKVSecret(ROOT, marker, { value: marker });
  const text = readFileSync(file, 'utf8');
  const entries = text.trim().split('\n').map((line) => JSON.parse(line));
  const written = entries.filter((e) => e.request.path === `secret/data/${marker}`);
  assert.deepEqual(written.map((e) => e.type), ['request', 'response']);
  assert.equal(written[0].request.id, written[1].request.id);
  assert.equal(written[0].auth.policies[0], 'root');
  assert.match(written[0].request.data.data.value, /^hmac-sha256:/);
  assert.equal(text.split(`"value":"${marker}"`).length, 1, 'the value is not logged in plaintext');

  await call('delete', 'sys/audit/js-file');
  assert.equal((await call('get', 'sys/audit')).data['js-file/'], undefined);
});

test('hashi-vault-js: sysMetrics: JSON and Prometheus text under Vault\'s names', async () => {
  await vault.readKVSecret(ROOT, 'metrics-probe').catch(() => {});
  const doc = await vault.sysMetrics(ROOT);
  const gauges = Object.fromEntries(doc.Gauges.map((g) => [g.Name, g.Value]));
  const unsealed = Object.entries(gauges).find(([name]) => name.endsWith('.core.unsealed'));
  assert.ok(unsealed, JSON.stringify(doc.Gauges));
  assert.equal(unsealed[1], 1);
  const handled = doc.Samples.find((s) => s.Name === 'vault.core.handle_request');
  assert.ok(handled.Count > 0 && handled.Max >= handled.Min);

  const text = await vault.sysMetrics(ROOT, 'prometheus');
  assert.equal(typeof text, 'string');
  assert.match(text, /^# TYPE vault_core_handle_request summary$/m);
  assert.match(text, /^vault_core_handle_request_count \d+$/m);
  assert.match(text, /^vault_route_read_secret_\{quantile="0.99"\} [0-9.e-]+$/m);
  // Without a token (no unauthenticated_metrics_access on the dev listener): refused.
  assert.equal(await failsWith(vault.sysMetrics('')), 403);
});

// Last: it leaves the server sealed until the unseal below.
test('hashi-vault-js: sysSeal and sysUnseal with the dev unseal key', async () => {
  await vault.sysSeal(ROOT);
  assert.equal((await vault.sealStatus()).sealed, true);
  const health = await vault.healthCheck().catch((err) => err);
  assert.equal(health.response.status, 503);
  assert.equal(health.response.data.sealed, true);
  // Vault's status-code query parameters, as healthCheck passes them through.
  assert.equal((await vault.healthCheck({ sealedcode: 200 })).sealed, true);

  const unsealed = await vault.sysUnseal(ROOT, hush.unsealKey);
  assert.equal(unsealed.sealed, false);
  assert.equal((await vault.healthCheck()).sealed, false);
});
