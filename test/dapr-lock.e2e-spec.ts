import { DaprClient } from '@dapr/dapr';
// The SDK's package root does not re-export LockStatus (3.18); it lives with the unlock response type.
import { LockStatus } from '@dapr/dapr/types/lock/UnlockResponse';
import { createUser, http, startCluster, TestCluster } from './support/test-app';
import { daprClient } from './support/dapr-client';

const LOCK = '/v1.0-alpha1/lock/lockstore';
const UNLOCK = '/v1.0-alpha1/unlock/lockstore';

/** Raw POST with the dapr-api-token header, for exact status codes and bodies. */
async function daprPost(url: string, token: string | undefined, path: string, body: unknown) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers['dapr-api-token'] = token;
  const res = await fetch(url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Dapr distributed lock API', () => {
  let cluster: TestCluster;
  let client: DaprClient;

  beforeAll(async () => {
    cluster = await startCluster(1, { DAPR_LOCK_STORES: 'lockstore,otherstore', MAX_LEASE_SECONDS: '3600' });
    client = daprClient(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await client?.stop();
    await cluster?.close();
  });

  describe('with the official @dapr/dapr SDK over HTTP', () => {
    it('sets sidecar metadata attributes as text and lists them under extended (SDK), per instance as per sidecar', async () => {
      expect(await client.metadata.set('release-train', 'r42 "quoted" {not json}')).toBe(true);
      expect(await client.metadata.set('empty', '')).toBe(true);
      const meta = await client.metadata.get();
      expect(meta.extended).toMatchObject({ 'release-train': 'r42 "quoted" {not json}', empty: '' });
      // Without a key: 401 as for every other sidecar route; oversized: 400 naming the limit.
      const raw = await fetch(`${cluster.url}/v1.0/metadata/x`, { method: 'PUT', body: 'v' });
      expect(raw.status).toBe(401);
      const big = await fetch(`${cluster.url}/v1.0/metadata/x`, { method: 'PUT', body: 'v'.repeat(5_000), headers: { 'dapr-api-token': cluster.ownerToken } });
      expect({ status: big.status, body: await big.json() }).toEqual({
        status: 400,
        body: { errorCode: 'ERR_MALFORMED_REQUEST', message: 'metadata attribute value must be at most 4096 characters' },
      });
    });

    it('locks, refuses the same and another owner, and unlocks with Dapr statuses', async () => {
      expect(await client.lock.lock('lockstore', 'sdk-res', 'owner-a', 30)).toEqual({ success: true });
      // Not reentrant: the same owner asking again is refused too.
      expect(await client.lock.lock('lockstore', 'sdk-res', 'owner-a', 30)).toEqual({ success: false });
      expect(await client.lock.lock('lockstore', 'sdk-res', 'owner-b', 30)).toEqual({ success: false });
      expect(await client.lock.unlock('lockstore', 'sdk-res', 'stranger')).toEqual({ status: LockStatus.LockBelongsToOthers });
      expect(await client.lock.unlock('lockstore', 'never-locked', 'owner-a')).toEqual({ status: LockStatus.LockDoesNotExist });
      expect(await client.lock.unlock('lockstore', 'sdk-res', 'owner-a')).toEqual({ status: LockStatus.Success });
      // Once unlocked, the lock no longer exists for that owner and is free for anyone.
      expect(await client.lock.unlock('lockstore', 'sdk-res', 'owner-a')).toEqual({ status: LockStatus.LockDoesNotExist });
      expect(await client.lock.lock('lockstore', 'sdk-res', 'owner-b', 30)).toEqual({ success: true });
      expect(await client.lock.unlock('lockstore', 'sdk-res', 'owner-b')).toEqual({ status: LockStatus.Success });
    });

    it('frees the lock when expiryInSeconds runs out, so another owner can take it', async () => {
      const started = Date.now();
      expect(await client.lock.lock('lockstore', 'sdk-expiring', 'owner-a', 1)).toEqual({ success: true });
      expect(await client.lock.lock('lockstore', 'sdk-expiring', 'owner-b', 30)).toEqual({ success: false });
      const r = await eventually(() => client.lock.lock('lockstore', 'sdk-expiring', 'owner-b', 30), (v) => v.success);
      expect(r).toEqual({ success: true });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(Date.now() - started).toBeLessThan(5_000);
      // The expired owner's unlock does not free the new holder's lock.
      expect(await client.lock.unlock('lockstore', 'sdk-expiring', 'owner-a')).toEqual({ status: LockStatus.LockBelongsToOthers });
      expect(await client.lock.unlock('lockstore', 'sdk-expiring', 'owner-b')).toEqual({ status: LockStatus.Success });
    });

    it('keeps different resources and different stores independent', async () => {
      expect(await client.lock.lock('lockstore', 'indep-1', 'owner-a', 30)).toEqual({ success: true });
      expect(await client.lock.lock('lockstore', 'indep-2', 'owner-b', 30)).toEqual({ success: true });
      expect(await client.lock.lock('otherstore', 'indep-1', 'owner-c', 30)).toEqual({ success: true });
      expect(await client.lock.unlock('otherstore', 'indep-1', 'owner-a')).toEqual({ status: LockStatus.LockBelongsToOthers });
      for (const [store, res, owner] of [['lockstore', 'indep-1', 'owner-a'], ['lockstore', 'indep-2', 'owner-b'], ['otherstore', 'indep-1', 'owner-c']]) {
        expect(await client.lock.unlock(store, res, owner)).toEqual({ status: LockStatus.Success });
      }
    });

    it('throws on errors, as the SDK does for any 4xx', async () => {
      await expect(client.lock.lock('nostore', 'r', 'o', 10)).rejects.toThrow(/ERR_LOCK_STORE_NOT_FOUND/);
      await expect(client.lock.lock('lockstore', 'r', 'o', 0)).rejects.toThrow(/ERR_MALFORMED_REQUEST/);
    });

    it('gives exactly one of many concurrent try-locks the lock', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.lock.lock('lockstore', 'contended', `owner-${i}`, 30)));
      expect(results.filter((r) => r.success)).toHaveLength(1);
      const winner = results.findIndex((r) => r.success);
      expect(await client.lock.unlock('lockstore', 'contended', `owner-${winner}`)).toEqual({ status: LockStatus.Success });
    });
  });

  describe('over raw HTTP: status codes and Dapr error bodies', () => {
    it('answers 200 with {success} and {status}, as JSON', async () => {
      const lock = await daprPost(cluster.url, cluster.ownerToken, LOCK, { resourceId: 'raw-1', lockOwner: 'o', expiryInSeconds: 10 });
      expect(lock).toMatchObject({ status: 200, body: { success: true } });
      expect(lock.contentType).toMatch(/application\/json/);
      const again = await daprPost(cluster.url, cluster.ownerToken, LOCK, { resourceId: 'raw-1', lockOwner: 'o', expiryInSeconds: 10 });
      expect(again).toMatchObject({ status: 200, body: { success: false } });
      const unlock = await daprPost(cluster.url, cluster.ownerToken, UNLOCK, { resourceId: 'raw-1', lockOwner: 'o' });
      expect(unlock).toMatchObject({ status: 200, body: { status: 0 } });
    });

    it('accepts a bearer key as well as dapr-api-token', async () => {
      const api = http(cluster.url, cluster.ownerToken);
      expect((await api.post(LOCK, { resourceId: 'bearer', lockOwner: 'o', expiryInSeconds: 10 })).body).toEqual({ success: true });
      expect((await api.post(UNLOCK, { resourceId: 'bearer', lockOwner: 'o' })).body).toEqual({ status: 0 });
    });

    const malformed: Array<[string, unknown, RegExp]> = [
      ['expiryInSeconds = 0', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 0 }, /ExpiryInSeconds is not positive/],
      ['negative expiry', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: -5 }, /ExpiryInSeconds is not positive/],
      ['missing expiry', { resourceId: 'r', lockOwner: 'o' }, /ExpiryInSeconds is not positive/],
      ['fractional expiry', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 1.5 }, /expiryInSeconds must be an integer/],
      ['expiry as a word', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 'ten' }, /expiryInSeconds must be an integer/],
      ['expiry as a boolean', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: true }, /expiryInSeconds must be an integer/],
      ['huge expiry', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 1e12 }, /expiryInSeconds must be a 32-bit integer/],
      ['expiry over MAX_LEASE_SECONDS', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 3601 }, /maximum of 3600/],
      ['empty resourceId', { resourceId: '', lockOwner: 'o', expiryInSeconds: 10 }, /ResourceId is empty/],
      ['missing resourceId', { lockOwner: 'o', expiryInSeconds: 10 }, /ResourceId is empty/],
      ['null resourceId', { resourceId: null, lockOwner: 'o', expiryInSeconds: 10 }, /ResourceId is empty/],
      ['numeric resourceId', { resourceId: 42, lockOwner: 'o', expiryInSeconds: 10 }, /resourceId must be a string/],
      ['object lockOwner', { resourceId: 'r', lockOwner: { a: 1 }, expiryInSeconds: 10 }, /lockOwner must be a string/],
      ['empty lockOwner', { resourceId: 'r', lockOwner: '', expiryInSeconds: 10 }, /LockOwner is empty/],
      ['over-long resourceId', { resourceId: 'x'.repeat(301), lockOwner: 'o', expiryInSeconds: 10 }, /ResourceId is longer than 300/],
      ['over-long lockOwner', { resourceId: 'r', lockOwner: 'x'.repeat(10_000), expiryInSeconds: 10 }, /LockOwner is longer than 300/],
      ['control characters', { resourceId: 'a\u0000b', lockOwner: 'o', expiryInSeconds: 10 }, /control characters/],
      ['expiry as a long digit string', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: '99999999999' }, /expiryInSeconds must be a 32-bit integer/],
      ['a lockOwner with a lone surrogate', { resourceId: 'r', lockOwner: 'owner-\ud800', expiryInSeconds: 10 }, /LockOwner is not well-formed Unicode/],
      ['an expiry too large for a float', '{"resourceId": "r", "lockOwner": "o", "expiryInSeconds": 1e400}', /number too large for a 64-bit float at expiryInSeconds/],
      ['an array body', [1, 2], /body must be a JSON object/],
      ['a string body', '"text"', /body must be a JSON object/],
      ['a null body', 'null', /body must be a JSON object/],
      ['malformed JSON', '{"resourceId": "r", "lockOwner":', /JSON/],
    ];
    it.each(malformed)('lock with %s → 400 ERR_MALFORMED_REQUEST', async (_, body, message) => {
      const res = await daprPost(cluster.url, cluster.ownerToken, LOCK, body);
      expect(res.status).toBe(400);
      expect(res.body.errorCode).toBe('ERR_MALFORMED_REQUEST');
      expect(res.body.message).toMatch(message);
      expect(Object.keys(res.body).sort()).toEqual(['errorCode', 'message']);
      expect(res.contentType).toMatch(/application\/json/);
    });

    it('accepts expiryInSeconds as a decimal string, as Dapr (protojson) does', async () => {
      const res = await daprPost(cluster.url, cluster.ownerToken, LOCK, { resourceId: 'str-expiry', lockOwner: 'o', expiryInSeconds: '10' });
      expect(res).toMatchObject({ status: 200, body: { success: true } });
      await daprPost(cluster.url, cluster.ownerToken, UNLOCK, { resourceId: 'str-expiry', lockOwner: 'o' });
    });

    it('checks the body before the store, and the store before the lock (Dapr order)', async () => {
      const badExpiry = await daprPost(cluster.url, cluster.ownerToken, '/v1.0-alpha1/lock/nostore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 0 });
      expect(badExpiry).toMatchObject({ status: 400, body: { errorCode: 'ERR_MALFORMED_REQUEST' } });
      const emptyResource = await daprPost(cluster.url, cluster.ownerToken, '/v1.0-alpha1/unlock/nostore', { resourceId: '', lockOwner: 'o' });
      expect(emptyResource).toMatchObject({ status: 400, body: { errorCode: 'ERR_MALFORMED_REQUEST' } });
      const lock = await daprPost(cluster.url, cluster.ownerToken, '/v1.0-alpha1/lock/nostore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 10 });
      expect(lock).toEqual({ status: 400, contentType: expect.stringMatching(/json/), body: { errorCode: 'ERR_LOCK_STORE_NOT_FOUND', message: 'lock store nostore not found' } });
      const unlock = await daprPost(cluster.url, cluster.ownerToken, '/v1.0-alpha1/unlock/nostore', { resourceId: 'r', lockOwner: 'o' });
      expect(unlock).toMatchObject({ status: 400, body: { errorCode: 'ERR_LOCK_STORE_NOT_FOUND' } });
    });

    it.each([
      ['empty resourceId', { resourceId: '', lockOwner: 'o' }, /ResourceId is empty/],
      ['missing lockOwner', { resourceId: 'r' }, /LockOwner is empty/],
      ['numeric lockOwner', { resourceId: 'r', lockOwner: 7 }, /lockOwner must be a string/],
      ['malformed JSON', '{', /JSON/],
    ])('unlock with %s → 400 ERR_MALFORMED_REQUEST', async (_, body, message) => {
      const res = await daprPost(cluster.url, cluster.ownerToken, UNLOCK, body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ errorCode: 'ERR_MALFORMED_REQUEST', message: expect.stringMatching(message) });
    });

    it('answers 401 in Dapr form without a token or with a bad one', async () => {
      for (const token of [undefined, 'not-a-key']) {
        const res = await daprPost(cluster.url, token, LOCK, { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 10 });
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ errorCode: 'ERR_UNAUTHORIZED', message: expect.any(String) });
        const unlock = await daprPost(cluster.url, token, UNLOCK, { resourceId: 'r', lockOwner: 'o' });
        expect(unlock.status).toBe(401);
        expect(unlock.body.errorCode).toBe('ERR_UNAUTHORIZED');
      }
    });

    it('answers 403 in Dapr form to a member, and to a key limited to other repositories', async () => {
      const member = await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' });
      const res = await daprPost(cluster.url, member.apiKey, LOCK, { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 10 });
      expect(res).toMatchObject({ status: 403, body: { errorCode: 'ERR_PERMISSION_DENIED', message: 'Requires role: owner, application' } });
      expect((await daprPost(cluster.url, member.apiKey, UNLOCK, { resourceId: 'r', lockOwner: 'o' })).status).toBe(403);

      const limited = await createUser(cluster.url, cluster.ownerToken, { name: 'limited', role: 'application', repositories: ['otherstore'] });
      const denied = await daprPost(cluster.url, limited.apiKey, LOCK, { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 10 });
      expect(denied).toMatchObject({ status: 403, body: { errorCode: 'ERR_PERMISSION_DENIED' } });
      expect(denied.body.message).toMatch(/lockstore/);
      const allowed = await daprPost(cluster.url, limited.apiKey, '/v1.0-alpha1/lock/otherstore', { resourceId: 'limited', lockOwner: 'o', expiryInSeconds: 10 });
      expect(allowed).toMatchObject({ status: 200, body: { success: true } });
      expect((await daprPost(cluster.url, limited.apiKey, '/v1.0-alpha1/unlock/otherstore', { resourceId: 'limited', lockOwner: 'o' })).body).toEqual({ status: 0 });
    });

    it('lets an application key use the lock API', async () => {
      const app = await createUser(cluster.url, cluster.ownerToken, { name: 'svc', role: 'application' });
      expect((await daprPost(cluster.url, app.apiKey, LOCK, { resourceId: 'app-res', lockOwner: 'o', expiryInSeconds: 10 })).body).toEqual({ success: true });
      // Another key's owner name is just a string: the same lockOwner may unlock (Dapr semantics).
      expect((await daprPost(cluster.url, cluster.ownerToken, UNLOCK, { resourceId: 'app-res', lockOwner: 'o' })).body).toEqual({ status: 0 });
    });

    it('documents both routes in the OpenAPI document', async () => {
      const doc = (await http(cluster.url).get('/docs-json')).body;
      const lock = doc.paths['/v1.0-alpha1/lock/{store}'].post;
      expect(lock.requestBody.content['application/json'].schema.required).toEqual(['resourceId', 'lockOwner', 'expiryInSeconds']);
      expect(lock.responses['200'].content['application/json'].schema.properties.success.type).toBe('boolean');
      const unlock = doc.paths['/v1.0-alpha1/unlock/{store}'].post;
      expect(unlock.responses['200'].content['application/json'].schema.properties.status.type).toBe('integer');
    });
  });
});
