import { createUser, http, startCluster, TestCluster } from './support/test-app';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function anonymous(url: string): Promise<{ userId: string; apiKey: string }> {
  const res = await http(url).post('/api/v0/users/anonymous');
  if (res.status !== 200) throw new Error(`anonymous user: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('synchronize lock API', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster(1, { SYNCHRONIZE_LEASE_SECONDS: '2' });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('follows its documented flow: anonymous user, lock, get, list, unlock', async () => {
    // 1. Create an anonymous user (no key needed).
    const created = await http(cluster.url).post('/api/v0/users/anonymous');
    expect(created.status).toBe(200);
    expect(created.body).toEqual({ userId: expect.any(String), apiKey: expect.stringMatching(UUID) });
    const api = http(cluster.url, created.body.apiKey);

    // 2. Lock.
    const lock = await api.post('/api/v0/lock', { lockName: 'resource-123', requester: 'service-a' });
    expect(lock.status).toBe(200);
    expect(lock.body).toEqual({ locked: true, leaseId: expect.stringMatching(UUID), message: expect.any(String) });
    const leaseId = lock.body.leaseId;

    // 3. Another requester (or the same one again) is refused, told who holds it.
    const busy = await api.post('/api/v0/lock', { lockName: 'resource-123', requester: 'service-b' });
    expect(busy.status).toBe(200);
    expect(busy.body.locked).toBe(false);
    expect(busy.body.leaseId).toBeUndefined();
    expect(busy.body.message).toMatch(/held by service-a/);
    expect((await api.post('/api/v0/lock', { lockName: 'resource-123', requester: 'service-a' })).body.locked).toBe(false);

    // 4. Get lock information.
    const info = await api.get('/api/v0/lock?lockName=resource-123');
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ lockName: 'resource-123', locked: true, leaseId, leasedBy: 'service-a' });
    expect(new Date(info.body.createdAt).toISOString()).toBe(info.body.createdAt);
    expect(new Date(info.body.updatedAt).toISOString()).toBe(info.body.updatedAt);

    // 5. Get all locks.
    await api.post('/api/v0/lock', { lockName: 'other', requester: 'service-c' });
    const all = await api.get('/api/v0/locks');
    expect(all.status).toBe(200);
    expect(all.body.locks.map((l: { lockName: string }) => l.lockName).sort()).toEqual(['other', 'resource-123']);
    expect(all.body.locks.find((l: { lockName: string }) => l.lockName === 'resource-123')).toMatchObject({ locked: true, leaseId, leasedBy: 'service-a' });

    // 6. Unlock, then the lock is free and can be taken again.
    const unlock = await api.post('/api/v0/unlock', { lockName: 'resource-123', leaseId });
    expect(unlock).toMatchObject({ status: 200, body: { unlocked: true } });
    const free = await api.get('/api/v0/lock?lockName=resource-123');
    expect(free.body).toMatchObject({ lockName: 'resource-123', locked: false, leaseId: null, leasedBy: null });
    const again = await api.post('/api/v0/lock', { lockName: 'resource-123', requester: 'service-b' });
    expect(again.body.locked).toBe(true);
    expect(again.body.leaseId).not.toBe(leaseId);

    // Unlocking an ended lease again: 200 with unlocked false (the lease is known, but over).
    const twice = await api.post('/api/v0/unlock', { lockName: 'resource-123', leaseId });
    expect(twice).toMatchObject({ status: 200, body: { unlocked: false, message: expect.stringMatching(/already ended/) } });
    // ... and it did not release the new holder.
    expect((await api.get('/api/v0/lock?lockName=resource-123')).body).toMatchObject({ locked: true, leasedBy: 'service-b' });
  });

  it('answers an unknown lock with locked: false and nulls', async () => {
    const user = await anonymous(cluster.url);
    const res = await http(cluster.url, user.apiKey).get('/api/v0/lock?lockName=never-used');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ lockName: 'never-used', locked: false, leaseId: null, leasedBy: null, createdAt: null, updatedAt: null, expiresAt: null });
    expect((await http(cluster.url, user.apiKey).get('/api/v0/locks')).body).toEqual({ locks: [] });
  });

  it('answers 404 for a lease id that is unknown for that lock, or not a UUID', async () => {
    const api = http(cluster.url, (await anonymous(cluster.url)).apiKey);
    const { leaseId } = (await api.post('/api/v0/lock', { lockName: 'a', requester: 'me' })).body;
    expect((await api.post('/api/v0/unlock', { lockName: 'a', leaseId: '550e8400-e29b-41d4-a716-446655440000' })).status).toBe(404);
    expect((await api.post('/api/v0/unlock', { lockName: 'a', leaseId: 'not-a-uuid' })).status).toBe(404);
    // The right lease on the wrong lock is unknown there.
    expect((await api.post('/api/v0/unlock', { lockName: 'b', leaseId })).status).toBe(404);
    const missing = await api.post('/api/v0/unlock', { lockName: 'never', leaseId });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/Lease not found/);
    expect((await api.post('/api/v0/unlock', { lockName: 'a', leaseId })).body).toEqual({ unlocked: true });
  });

  it('isolates anonymous users: same lockName, separate locks, no cross access', async () => {
    const alice = http(cluster.url, (await anonymous(cluster.url)).apiKey);
    const bob = http(cluster.url, (await anonymous(cluster.url)).apiKey);
    const a = await alice.post('/api/v0/lock', { lockName: 'shared-name', requester: 'alice' });
    const b = await bob.post('/api/v0/lock', { lockName: 'shared-name', requester: 'bob' });
    expect(a.body.locked).toBe(true);
    expect(b.body.locked).toBe(true);
    // Bob cannot see or release Alice's lease.
    expect((await bob.get('/api/v0/lock?lockName=shared-name')).body).toMatchObject({ leaseId: b.body.leaseId, leasedBy: 'bob' });
    expect((await bob.post('/api/v0/unlock', { lockName: 'shared-name', leaseId: a.body.leaseId })).status).toBe(404);
    expect((await bob.get('/api/v0/locks')).body.locks).toHaveLength(1);
    expect(JSON.stringify((await bob.get('/api/v0/locks')).body)).not.toContain(a.body.leaseId);
    expect((await alice.get('/api/v0/lock?lockName=shared-name')).body).toMatchObject({ locked: true, leaseId: a.body.leaseId, leasedBy: 'alice' });
    expect((await alice.post('/api/v0/unlock', { lockName: 'shared-name', leaseId: a.body.leaseId })).body).toEqual({ unlocked: true });
  });

  it('confines an anonymous key to synchronize: sfp and Dapr lock APIs answer 403', async () => {
    const user = await anonymous(cluster.url);
    const api = http(cluster.url, user.apiKey);
    expect((await api.post('/sfp/api/locks', { repository: `synchronize/${user.userId}`, resource: 'x', leaseDurationSeconds: 10 })).status).toBe(403);
    const dapr = await api.post('/v1.0-alpha1/lock/lockstore', { resourceId: 'x', lockOwner: 'o', expiryInSeconds: 10 });
    expect(dapr.status).toBe(403);
    expect((await api.get('/sfp/api/users')).status).toBe(403);
    const me = await api.get('/sfp/api/users/me');
    expect(me.body).toMatchObject({ id: user.userId, role: 'member', kind: 'anonymous', repositories: [`synchronize/${user.userId}`] });
  });

  it('lets every role use its own namespace, an owner included', async () => {
    const owner = http(cluster.url, cluster.ownerToken);
    const member = await createUser(cluster.url, cluster.ownerToken, { name: 'm', role: 'member' });
    const limited = await createUser(cluster.url, cluster.ownerToken, { name: 'l', role: 'application', repositories: ['flxbl-io/*'] });
    const leases: string[] = [];
    for (const api of [owner, http(cluster.url, member.apiKey), http(cluster.url, limited.apiKey)]) {
      const res = await api.post('/api/v0/lock', { lockName: 'per-user', requester: 'x' });
      expect(res.body.locked).toBe(true);
      leases.push(res.body.leaseId);
    }
    // The owner's synchronize lock is in its own namespace, not in anyone else's.
    const ownerLocks = (await owner.get('/api/v0/locks')).body.locks;
    expect(ownerLocks.filter((l: { lockName: string }) => l.lockName === 'per-user')).toHaveLength(1);
    expect(ownerLocks.find((l: { lockName: string }) => l.lockName === 'per-user').leaseId).toBe(leases[0]);
  });

  it('expires a lease after SYNCHRONIZE_LEASE_SECONDS; unlocking it then answers unlocked: false', async () => {
    const api = http(cluster.url, (await anonymous(cluster.url)).apiKey);
    const { leaseId } = (await api.post('/api/v0/lock', { lockName: 'short', requester: 'me' })).body;
    expect((await api.get('/api/v0/lock?lockName=short')).body.expiresAt).toBeTruthy();
    let info: any;
    for (let i = 0; i < 80; i++) {
      info = (await api.get('/api/v0/lock?lockName=short')).body;
      if (!info.locked) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(info).toMatchObject({ locked: false, leaseId: null });
    expect((await api.get('/api/v0/locks')).body.locks[0]).toMatchObject({ lockName: 'short', locked: false });
    expect((await api.post('/api/v0/unlock', { lockName: 'short', leaseId })).body).toMatchObject({ unlocked: false });
    expect((await api.post('/api/v0/lock', { lockName: 'short', requester: 'other' })).body.locked).toBe(true);
  });

  it('answers 401 without a key or with a wrong one', async () => {
    const none = http(cluster.url);
    expect((await none.post('/api/v0/lock', { lockName: 'a', requester: 'b' })).status).toBe(401);
    expect((await none.get('/api/v0/lock?lockName=a')).status).toBe(401);
    expect((await none.post('/api/v0/unlock', { lockName: 'a', leaseId: '550e8400-e29b-41d4-a716-446655440000' })).status).toBe(401);
    expect((await none.get('/api/v0/locks')).status).toBe(401);
    expect((await http(cluster.url, '550e8400-e29b-41d4-a716-446655440000').get('/api/v0/locks')).status).toBe(401);
  });

  it('rejects bad input with 400 naming the field', async () => {
    const api = http(cluster.url, (await anonymous(cluster.url)).apiKey);
    const cases: Array<[string, unknown, RegExp]> = [
      ['/api/v0/lock', {}, /lockName.*requester|requester.*lockName/],
      ['/api/v0/lock', { lockName: '', requester: 'r' }, /lockName/],
      ['/api/v0/lock', { lockName: 'l', requester: '' }, /requester/],
      ['/api/v0/lock', { lockName: 42, requester: 'r' }, /lockName must be a string/],
      ['/api/v0/lock', { lockName: 'l', requester: ['r'] }, /requester must be a string/],
      ['/api/v0/lock', { lockName: 'x'.repeat(301), requester: 'r' }, /lockName must be shorter than or equal to 300/],
      ['/api/v0/lock', { lockName: 'l', requester: 'x'.repeat(100_000) }, /requester/],
      ['/api/v0/lock', { lockName: 'a\nb', requester: 'r' }, /lockName must not contain control characters/],
      ['/api/v0/lock', '{"lockName": ', /JSON/],
      ['/api/v0/lock', '[]', /body must be a JSON object \(it is an array\)/],
      ['/api/v0/unlock', { lockName: 'l' }, /leaseId/],
      ['/api/v0/unlock', { leaseId: '550e8400-e29b-41d4-a716-446655440000' }, /lockName/],
      ['/api/v0/unlock', { lockName: 'l', leaseId: 12 }, /leaseId must be a string/],
    ];
    for (const [path, body, message] of cases) {
      const res = await api.post(path, body);
      expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
      expect(res.body.message).toMatch(message);
    }
    for (const query of ['', '?lockName=', `?lockName=${'x'.repeat(301)}`, '?lockName=a&lockName=b']) {
      const res = await api.get(`/api/v0/lock${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.message).toMatch(/lockName/);
    }
  });

  it('documents the synchronize routes in the OpenAPI document', async () => {
    const doc = (await http(cluster.url).get('/docs-json')).body;
    expect(doc.paths['/api/v0/users/anonymous'].post.responses['200']).toBeDefined();
    expect(doc.paths['/api/v0/users/anonymous'].post.security ?? []).toEqual([]);
    expect(doc.paths['/api/v0/lock'].post.responses['200']).toBeDefined();
    expect(doc.paths['/api/v0/lock'].get.responses['200']).toBeDefined();
    expect(doc.paths['/api/v0/unlock'].post.responses['404']).toBeDefined();
    expect(doc.paths['/api/v0/locks'].get.responses['200']).toBeDefined();
  });
});

describe('synchronize anonymous users: rate limit and switch', () => {
  it('answers 429 past SYNCHRONIZE_ANONYMOUS_PER_MINUTE', async () => {
    // Two instances share the limit through Redis: behind a load balancer it is still 3, not 6.
    const cluster = await startCluster(2, { SYNCHRONIZE_ANONYMOUS_PER_MINUTE: '3' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await http(cluster.instances[i % 2].url).post('/api/v0/users/anonymous')).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const res = await http(cluster.url).post('/api/v0/users/anonymous');
      expect(res.body.message).toMatch(/Too Many Requests/i);
      expect(res.headers.get('retry-after')).toBeTruthy();
      // Only anonymous sign-up is limited: authenticated calls go on.
      for (let i = 0; i < 5; i++) {
        expect((await http(cluster.url, cluster.ownerToken).get('/api/v0/locks')).status).toBe(200);
      }
    } finally {
      await cluster.close();
    }
  });

  it('refuses anonymous users with 403 and a clear message when switched off; keyed use still works', async () => {
    const cluster = await startCluster(1, { SYNCHRONIZE_ANONYMOUS_USERS: 'false' });
    try {
      const res = await http(cluster.url).post('/api/v0/users/anonymous');
      expect(res.status).toBe(403);
      expect(res.body.message).toMatch(/Anonymous users are disabled/);
      const lock = await http(cluster.url, cluster.ownerToken).post('/api/v0/lock', { lockName: 'l', requester: 'r' });
      expect(lock.body.locked).toBe(true);
    } finally {
      await cluster.close();
    }
  });
});
