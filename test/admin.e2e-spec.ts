import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

const enc = encodeURIComponent;

describe('admin: resources overview, stuck view, audit trail', () => {
  let cluster: TestCluster;
  let pg: Client;
  let app: { id: string; apiKey: string };
  let member: { id: string; apiKey: string };
  let limited: { id: string; apiKey: string };
  const t0 = new Date();

  const queue = (key: string, repository: string, resource: string, extra: Record<string, unknown> = {}) =>
    http(cluster.url, key).post('/sfp/api/locks', { repository, resource, leaseDurationSeconds: 600, ...extra });

  beforeAll(async () => {
    cluster = await startCluster(1);
    pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    app = await createUser(cluster.url, cluster.ownerToken, { name: 'pipeline-a', role: 'application' });
    member = await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' });
    limited = await createUser(cluster.url, cluster.ownerToken, { name: 'acme-bot', role: 'application', repositories: ['acme/*'] });
    // acme/web uat: held by pipeline-a, two waiters; acme/web staging: used and free; other/repo prod: held.
    expect((await queue(app.apiKey, 'acme/web', 'uat', { reason: 'deploy 42' })).status).toBe(201);
    expect((await queue(limited.apiKey, 'acme/web', 'uat', { reason: 'deploy 43' })).status).toBe(201);
    expect((await queue(app.apiKey, 'acme/web', 'uat')).status).toBe(201);
    const staging = await queue(app.apiKey, 'acme/web', 'staging');
    expect((await http(cluster.url, app.apiKey).delete(`/sfp/api/locks/${enc('acme/web')}/staging/${staging.body.id}`)).status).toBe(200);
    expect((await queue(app.apiKey, 'other/repo', 'prod')).status).toBe(201);
  });
  afterAll(async () => {
    await pg?.end();
    await cluster?.close();
  });

  it('lists every lock with holder, queue and next waiter to every role', async () => {
    for (const key of [cluster.ownerToken, app.apiKey, member.apiKey]) {
      const res = await http(cluster.url, key).get('/sfp/api/admin/resources');
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(3);
      expect(res.body.items.map((i: any) => `${i.repository}:${i.resource}`)).toEqual(['acme/web:staging', 'acme/web:uat', 'other/repo:prod']);
    }
    const res = await http(cluster.url, member.apiKey).get('/sfp/api/admin/resources?repository=acme%2Fweb&prefix=ua');
    const uat = res.body.items[0];
    expect(uat).toMatchObject({
      repository: 'acme/web',
      resource: 'uat',
      state: 'held',
      queueLength: 2,
      stuck: false,
      stuckReason: null,
      holder: { requestedBy: { id: app.id, name: 'pipeline-a' }, reason: 'deploy 42', leaseDurationSeconds: 600, fencingToken: 1, source: 'sfp' },
      nextWaiter: { position: 1, requestedBy: { id: limited.id, name: 'acme-bot' }, reason: 'deploy 43' },
    });
    expect(uat.holder.leaseRemainingSeconds).toBeGreaterThan(590);
    expect(uat.holder.heldSeconds).toBeGreaterThanOrEqual(0);
    expect(new Date(uat.holder.since).getTime()).toBeGreaterThanOrEqual(t0.getTime() - 1_000);
    expect(uat.oldestWaitSeconds).toBeGreaterThanOrEqual(0);
    const staging = (await http(cluster.url, member.apiKey).get('/sfp/api/admin/resources?contains=STAG')).body.items;
    expect(staging).toHaveLength(1);
    expect(staging[0]).toMatchObject({ resource: 'staging', state: 'free', holder: null, queueLength: 0, nextWaiter: null, oldestWaitSeconds: null, lastFencingToken: 1 });
  });

  it('filters by held, active, repository and pages with a total', async () => {
    const get = async (q: string) => (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources?${q}`)).body;
    expect((await get('held=true')).items.map((i: any) => i.resource)).toEqual(['uat', 'prod']);
    expect((await get('held=false')).items.map((i: any) => i.resource)).toEqual(['staging']);
    expect((await get('active=true')).total).toBe(2);
    expect((await get('repository=other%2Frepo')).items.map((i: any) => i.resource)).toEqual(['prod']);
    expect((await get('contains=%25')).total).toBe(0); // LIKE wildcards are literal
    const p1 = await get('limit=2&offset=0');
    const p2 = await get('limit=2&offset=2');
    expect([p1.total, p2.total]).toEqual([3, 3]);
    expect(p1.items).toHaveLength(2);
    expect(p2.items.map((i: any) => i.resource)).toEqual(['prod']);
    expect((await get('offset=50')).items).toEqual([]);
    expect((await get('offset=50')).total).toBe(3);
  });

  it('shows one lock with its whole queue in order', async () => {
    const res = await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources/${enc('acme/web')}/uat`);
    expect(res.status).toBe(200);
    expect(res.body.queue.map((w: any) => [w.position, w.requestedBy.name])).toEqual([[1, 'acme-bot'], [2, 'pipeline-a']]);
    expect((await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources/${enc('acme/web')}/nope`)).status).toBe(404);
  });

  it('shows a key limited to repository patterns only its repositories (403 when asking for others)', async () => {
    const c = http(cluster.url, limited.apiKey);
    const res = await c.get('/sfp/api/admin/resources');
    expect(res.body.total).toBe(2);
    expect(res.body.items.every((i: any) => i.repository === 'acme/web')).toBe(true);
    expect((await c.get('/sfp/api/admin/resources?repository=other%2Frepo')).status).toBe(403);
    expect((await c.get(`/sfp/api/admin/resources/${enc('other/repo')}/prod`)).status).toBe(403);
    const events = await c.get('/sfp/api/admin/events?limit=500');
    expect(events.status).toBe(200);
    expect(events.body.items.length).toBeGreaterThan(0);
    expect(events.body.items.every((e: any) => e.repository === 'acme/web')).toBe(true);
    expect((await c.get('/sfp/api/admin/events?repository=other%2Frepo')).status).toBe(403);
    expect((await c.get('/sfp/api/admin/stuck')).status).toBe(200);
  });

  it('answers 400 on bad filters and paging, 401 without a key', async () => {
    const c = http(cluster.url, member.apiKey);
    for (const q of ['limit=-1', 'limit=0', 'limit=501', 'limit=abc', 'offset=-3', 'held=yes', 'stuck=1', 'contains=']) {
      const res = await c.get(`/sfp/api/admin/resources?${q}`);
      expect([q, res.status]).toEqual([q, 400]);
      expect(res.body.message).toMatch(new RegExp(q.split('=')[0]));
    }
    for (const q of ['from=notadate', 'to=2026-13-45', 'type=bogus', 'type=granted,nope', 'cursor=abc', 'cursor=-1', 'limit=-1', 'from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z', 'actor=a%00b', 'actor=a%0Ab']) {
      const res = await c.get(`/sfp/api/admin/events?${q}`);
      expect([q, res.status]).toEqual([q, 400]);
    }
    expect((await c.get('/sfp/api/admin/events?actor=a%00b')).body.message).toMatch(/actor/);
    expect((await c.get('/sfp/api/admin/stuck?limit=-1')).status).toBe(400);
    expect((await http(cluster.url).get('/sfp/api/admin/resources')).status).toBe(401);
    expect((await http(cluster.url).get('/sfp/api/admin/events')).status).toBe(401);
  });

  it('flags a lock held far longer than its lease as stuck', async () => {
    // Simulate an hour-long hold of a 600 s lease (kept alive by renewals); only lease_start moves.
    await pg.query(`UPDATE tickets SET lease_start = lease_start - interval '1 hour' WHERE status = 'acquired'
                      AND lock_id = (SELECT id FROM locks WHERE repository = 'other/repo' AND resource = 'prod')`);
    const stuck = await http(cluster.url, member.apiKey).get('/sfp/api/admin/stuck');
    expect(stuck.status).toBe(200);
    expect(stuck.body.total).toBe(1);
    expect(stuck.body.items[0]).toMatchObject({ repository: 'other/repo', resource: 'prod', state: 'stuck', stuck: true, stuckReason: 'held_too_long' });
    expect(stuck.body.items[0].holder.heldSeconds).toBeGreaterThanOrEqual(3600);
    const filtered = await http(cluster.url, member.apiKey).get('/sfp/api/admin/resources?stuck=true');
    expect(filtered.body.items.map((i: any) => i.resource)).toEqual(['prod']);
    expect((await http(cluster.url, member.apiKey).get('/sfp/api/admin/resources?stuck=false')).body.total).toBe(2);
    // The limited key does not see other/repo's stuck lock.
    expect((await http(cluster.url, limited.apiKey).get('/sfp/api/admin/stuck')).body.total).toBe(0);
    // Undone: the ticket row is also the audit of the grant (its time is lease_start).
    await pg.query(`UPDATE tickets SET lease_start = lease_start + interval '1 hour' WHERE status = 'acquired'
                      AND lock_id = (SELECT id FROM locks WHERE repository = 'other/repo' AND resource = 'prod')`);
  });

  it('records the audit trail newest first with actor, fencing token and reason', async () => {
    const c = http(cluster.url, member.apiKey);
    const res = await c.get(`/sfp/api/admin/events?repository=${enc('acme/web')}&resource=uat`);
    expect(res.status).toBe(200);
    const items = res.body.items;
    expect(items.map((e: any) => e.type)).toEqual(['queued', 'queued', 'granted', 'queued']);
    expect(items.map((e: any) => e.id)).toEqual([...items.map((e: any) => e.id)].sort((a, b) => b - a));
    expect(items[2]).toMatchObject({ type: 'granted', actor: { id: app.id, name: 'pipeline-a' }, fencingToken: 1, reason: 'deploy 42', repository: 'acme/web', resource: 'uat' });
    expect(res.body.nextCursor).toBeNull();

    const released = await c.get('/sfp/api/admin/events?type=released');
    expect(released.body.items).toHaveLength(1);
    expect(released.body.items[0]).toMatchObject({ resource: 'staging', actor: { name: 'pipeline-a' }, fencingToken: 1 });
    expect((await c.get(`/sfp/api/admin/events?actor=acme-bot`)).body.items.map((e: any) => e.type)).toEqual(['queued']);
    expect((await c.get(`/sfp/api/admin/events?actor=${limited.id}`)).body.items.map((e: any) => e.type)).toEqual(['queued']);
    expect((await c.get('/sfp/api/admin/events?resource=prod')).body.items.map((e: any) => e.type)).toEqual(['granted', 'queued']);
    expect((await c.get('/sfp/api/admin/events?type=granted,released')).body.items).toHaveLength(4);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await c.get(`/sfp/api/admin/events?from=${enc(future)}`)).body.items).toEqual([]);
    expect((await c.get(`/sfp/api/admin/events?from=${enc(t0.toISOString())}&to=${enc(future)}`)).body.items).toHaveLength(9);
    expect((await c.get(`/sfp/api/admin/events?to=${enc(t0.toISOString())}`)).body.items).toEqual([]);
  });

  it('pages the audit trail with a cursor, without gaps or repeats', async () => {
    const c = http(cluster.url, member.apiKey);
    const all = (await c.get('/sfp/api/admin/events')).body.items.map((e: any) => e.id);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = (await c.get(`/sfp/api/admin/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((e: any) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all);
  });

  it('records a force clear (by the existing DELETE endpoint) with its actor', async () => {
    const clear = await http(cluster.url, app.apiKey).delete(`/sfp/api/locks/${enc('acme/web')}/uat`);
    expect(clear.status).toBe(200);
    expect(clear.body.cleared).toBe(3);
    const events = (await http(cluster.url, member.apiKey).get('/sfp/api/admin/events?type=cleared')).body.items;
    expect(events).toHaveLength(3);
    expect(events.every((e: any) => e.actor.name === 'pipeline-a' && e.reason === 'force clear')).toBe(true);
    const uat = (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources/${enc('acme/web')}/uat`)).body;
    expect(uat).toMatchObject({ state: 'free', holder: null, queueLength: 0, queue: [] });
  });
});

describe('admin: API keys', () => {
  let cluster: TestCluster;
  let pg: Client;

  beforeAll(async () => {
    cluster = await startCluster(2);
    pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
  });
  afterAll(async () => {
    await pg?.end();
    await cluster?.close();
  });

  it('lets only owners manage keys', async () => {
    const app = await createUser(cluster.url, cluster.ownerToken, { name: 'app', role: 'application' });
    const member = await createUser(cluster.url, cluster.ownerToken, { name: 'member', role: 'member' });
    for (const key of [app.apiKey, member.apiKey]) {
      const c = http(cluster.url, key);
      expect((await c.get('/sfp/api/admin/keys')).status).toBe(403);
      const post = await c.post('/sfp/api/admin/keys', { userId: member.id });
      expect(post.status).toBe(403);
      expect(post.body.message).toBe('Requires role: owner');
      expect((await c.delete(`/sfp/api/admin/keys/${member.id}`)).status).toBe(403);
    }
  });

  it('issues a key shown once and stored as its SHA-256, lists it, and revokes it on every instance at once', async () => {
    const owner = http(cluster.url, cluster.ownerToken);
    const user = await createUser(cluster.url, cluster.ownerToken, { name: 'deployer', role: 'application', repositories: ['acme/*'] });
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await owner.post('/sfp/api/admin/keys', { userId: user.id, expiresAt });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'active', expiresAt, revokedAt: null, user: { id: user.id, name: 'deployer', role: 'application', repositories: ['acme/*'] } });
    const apiKey: string = created.body.apiKey;
    expect(apiKey).toMatch(/^mtx_/);
    expect(created.body.keyPrefix).toBe(apiKey.slice(0, 8));
    const stored = await pg.query('SELECT key_hash FROM api_keys WHERE id = $1', [created.body.id]);
    expect(stored.rows[0].key_hash).toBe(createHash('sha256').update(apiKey).digest('hex'));

    // Both the first key and the new one work, on both instances (and get cached there).
    const [a, b] = cluster.instances;
    for (const instance of [a, b]) {
      expect((await http(instance.url, apiKey).get('/sfp/api/users/me')).status).toBe(200);
      expect((await http(instance.url, user.apiKey).get('/sfp/api/users/me')).status).toBe(200);
    }

    // last_used_at is written after the answer (off the hot path): wait for it.
    let list = await owner.get(`/sfp/api/admin/keys?userId=${user.id}`);
    for (let i = 0; i < 20 && list.body.items.some((k: any) => k.lastUsedAt === null); i++) {
      await new Promise((r) => setTimeout(r, 50));
      list = await owner.get(`/sfp/api/admin/keys?userId=${user.id}`);
    }
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(2);
    expect(list.body.items.map((k: any) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(apiKey);
    const listed = list.body.items.find((k: any) => k.id === created.body.id);
    expect(listed.lastUsedAt).not.toBeNull();

    const revoked = await http(a.url, cluster.ownerToken).delete(`/sfp/api/admin/keys/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: created.body.id, status: 'revoked' });
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await http(a.url, apiKey).get('/sfp/api/users/me')).status).toBe(401);
    // The other instance had it cached (10 s TTL); the invalidation reaches it through Redis.
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = (await http(b.url, apiKey).get('/sfp/api/users/me')).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
    // Only that key: the user's first key still works.
    expect((await http(b.url, user.apiKey).get('/sfp/api/users/me')).status).toBe(200);

    expect((await owner.get(`/sfp/api/admin/keys?userId=${user.id}&status=revoked`)).body.items.map((k: any) => k.id)).toEqual([created.body.id]);
    expect((await owner.get(`/sfp/api/admin/keys?userId=${user.id}&status=active`)).body.total).toBe(1);
    expect((await owner.delete(`/sfp/api/admin/keys/${created.body.id}`)).status).toBe(409);
  });

  it('answers 400, 404 and 409 on bad key requests', async () => {
    const owner = http(cluster.url, cluster.ownerToken);
    expect((await owner.post('/sfp/api/admin/keys', {})).status).toBe(400);
    expect((await owner.post('/sfp/api/admin/keys', { userId: 'nope' })).status).toBe(400);
    const missing = '4f1c1c9e-3d1a-4b7e-9a53-0c0b2a1d9e11';
    expect((await owner.post('/sfp/api/admin/keys', { userId: missing })).status).toBe(404);
    const user = await createUser(cluster.url, cluster.ownerToken, { name: 'gone', role: 'member' });
    expect((await owner.post('/sfp/api/admin/keys', { userId: user.id, expiresAt: '2001-01-01T00:00:00Z' })).status).toBe(400);
    expect((await owner.post('/sfp/api/admin/keys', { userId: user.id, expiresAt: 'soon' })).status).toBe(400);
    expect((await owner.delete(`/sfp/api/users/${user.id}`)).status).toBe(200);
    expect((await owner.post('/sfp/api/admin/keys', { userId: user.id })).status).toBe(409);
    expect((await owner.delete('/sfp/api/admin/keys/not-a-uuid')).status).toBe(400);
    expect((await owner.delete(`/sfp/api/admin/keys/${missing}`)).status).toBe(404);
    for (const q of ['limit=-1', 'status=bogus', 'userId=x', 'offset=x']) {
      expect([q, (await owner.get(`/sfp/api/admin/keys?${q}`)).status]).toEqual([q, 400]);
    }
  });

  it('documents every admin endpoint in Swagger with response schemas', async () => {
    const doc = (await http(cluster.url).get('/docs-json')).body;
    const schemaOf = (path: string, method: string, status: string) => doc.paths[path]?.[method]?.responses?.[status]?.content;
    expect(schemaOf('/sfp/api/admin/resources', 'get', '200')['application/json'].schema.$ref).toMatch(/ResourcePageDto/);
    expect(schemaOf('/sfp/api/admin/stuck', 'get', '200')['application/json'].schema.$ref).toMatch(/ResourcePageDto/);
    expect(schemaOf('/sfp/api/admin/resources/{repository}/{resource}', 'get', '200')['application/json'].schema.$ref).toMatch(/ResourceDetailDto/);
    expect(schemaOf('/sfp/api/admin/events', 'get', '200')['application/json'].schema.$ref).toMatch(/EventPageDto/);
    expect(schemaOf('/sfp/api/admin/keys', 'get', '200')['application/json'].schema.$ref).toMatch(/KeyPageDto/);
    expect(schemaOf('/sfp/api/admin/keys', 'post', '201')['application/json'].schema.$ref).toMatch(/CreatedKeyDto/);
    expect(schemaOf('/sfp/api/admin/keys/{id}', 'delete', '200')['application/json'].schema.$ref).toMatch(/KeyDto/);
    expect(schemaOf('/metrics', 'get', '200')['text/plain']).toBeDefined();
    expect(doc.paths['/metrics'].get.security).toEqual([{ 'api-key': [] }]);
    expect(doc.components.schemas.ResourceDto.properties.stuckReason.description).toMatch(/lease duration/);
  });
});

describe('admin: a lease left overdue (timers and sweep not running)', () => {
  let cluster: TestCluster;
  let pg: Client;

  beforeAll(async () => {
    // The sweep runs once at start, then not for a minute: an overdue lease stays held meanwhile.
    cluster = await startCluster(1, { SWEEP_INTERVAL_MS: '60000', SWEEP_DEADLINE_GRACE_MS: '60000' });
    pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
  });
  afterAll(async () => {
    await pg?.end();
    await cluster?.close();
  });

  it('is flagged lease_overdue in the stuck view, the overview and the metrics', async () => {
    const app = await createUser(cluster.url, cluster.ownerToken, { name: 'hung', role: 'application' });
    expect((await http(cluster.url, app.apiKey).post('/sfp/api/locks', { repository: 'acme/web', resource: 'qa', leaseDurationSeconds: 600 })).status).toBe(201);
    // As if the lease had ended two minutes ago and no timer fired (the BullMQ job is 10 min away).
    await pg.query(`UPDATE tickets SET lease_expires_at = now() - interval '2 minutes' WHERE status = 'acquired'`);
    await pg.query(`UPDATE locks SET holder_expires_at = now() - interval '2 minutes' WHERE holder_id IS NOT NULL`);
    const stuck = await http(cluster.url, app.apiKey).get('/sfp/api/admin/stuck');
    expect(stuck.body.items).toHaveLength(1);
    expect(stuck.body.items[0]).toMatchObject({ resource: 'qa', state: 'stuck', stuckReason: 'lease_overdue' });
    expect(stuck.body.items[0].holder.leaseRemainingSeconds).toBeLessThanOrEqual(-119);
    const metrics = await (await fetch(cluster.url + '/metrics', { headers: { authorization: `Bearer ${cluster.ownerToken}` } })).text();
    expect(metrics).toMatch(/^queue_mutex_locks_stuck 1$/m);
  });
});
