import { DaprClient } from '@dapr/dapr';
import { createUser, http, startCluster, TestCluster } from './support/test-app';
import { daprClient } from './support/dapr-client';

/**
 * Several resources in one ticket, and pools, over HTTP: the sfp queue body, the ticket fields,
 * the paths a set or pool ticket answers under, the pool endpoints and their roles, long-poll
 * wake-ups, bad input, and Dapr try-locks on members.
 */

const REPO = 'acme/release';
const enc = encodeURIComponent;

describe('sets of resources and pools over HTTP', () => {
  let cluster: TestCluster;
  let api: ReturnType<typeof http>;
  let n = 0;
  /** Fresh names per test, so tests never share a lock. */
  const fresh = (what: string) => `${what}-${++n}-${Date.now()}`;
  const lockPath = (name: string, ...rest: string[]) => ['/sfp/api/locks', enc(REPO), enc(name), ...rest].join('/');
  const poolPath = (name: string) => `/sfp/api/pools/${enc(REPO)}/${enc(name)}`;
  const queue = (body: Record<string, unknown>, key?: string) =>
    api.post('/sfp/api/locks', { repository: REPO, leaseDurationSeconds: 60, ...body }, key ? { 'idempotency-key': key } : undefined);

  beforeAll(async () => {
    // Long-polls re-read only every 10 s, so a wake-up that comes sooner came from the grant.
    cluster = await startCluster(1, { LONG_POLL_RECHECK_MS: '10000' });
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  describe('a set of resources', () => {
    it('is granted all together, with each resource’s fencing token, and answers under the path of any of them', async () => {
      const [a, b] = [fresh('src'), fresh('uat')];
      const t = await queue({ resources: [a, b], metadata: { job: 'deploy' } });
      expect(t.status).toBe(201);
      expect(t.body).toMatchObject({ status: 'acquired', resource: a, resources: [a, b], pool: null, count: 2, queuePosition: 0, metadata: { job: 'deploy' } });
      expect(Object.keys(t.body.fencingTokens)).toEqual([a, b]);
      expect(t.body.fencingToken).toBe(t.body.fencingTokens[a]);
      for (const name of [a, b]) {
        expect((await api.get(lockPath(name, t.body.id))).body.resources).toEqual([a, b]);
        expect((await api.get(lockPath(name))).body.map((x: { id: string }) => x.id)).toEqual([t.body.id]);
      }
      expect((await api.get(lockPath(fresh('other'), t.body.id))).status).toBe(404);
      expect((await api.post(lockPath(b, t.body.id, 'renew'), { leaseDurationSeconds: 120 })).body.leaseDurationSeconds).toBe(120);
      const released = await api.delete(lockPath(b, t.body.id));
      expect([released.status, released.body.releaseReason]).toEqual([200, 'released']);
      expect((await api.get(lockPath(a))).body[0].status).toBe('released');
    });

    it('waits for all its resources; a later ticket for one of them waits behind it; a long-poll wakes when it is granted', async () => {
      const [a, b] = [fresh('a'), fresh('b')];
      const holder = await queue({ resource: a });
      const set = await queue({ resources: [a, b] });
      const later = await queue({ resource: b });
      expect([set.body.status, set.body.queuePosition, later.body.status, later.body.queuePosition]).toEqual(['queued', 1, 'queued', 2]);
      const started = Date.now();
      const poll = api.post(`${lockPath(b, set.body.id, 'acquire')}?waitSeconds=20`);
      await new Promise((r) => setTimeout(r, 200));
      await api.delete(lockPath(a, holder.body.id));
      const woken = await poll;
      expect(woken.body).toMatchObject({ acquired: true, ticket: { status: 'acquired', resources: [a, b] } });
      expect(Date.now() - started).toBeLessThan(8_000);
      await api.delete(lockPath(a, set.body.id));
      expect((await api.get(lockPath(b, later.body.id))).body.status).toBe('acquired');
    });

    it('and its reverse, queued at once by many clients, never deadlock', async () => {
      const [a, b] = [fresh('x'), fresh('y')];
      const tickets = await Promise.all(Array.from({ length: 6 }, (_, i) => queue({ resources: i % 2 ? [a, b] : [b, a], leaseDurationSeconds: 5 })));
      for (const t of tickets.sort((x, y) => x.body.queuePosition - y.body.queuePosition)) {
        const got = await api.post(`${lockPath(a, t.body.id, 'acquire')}?waitSeconds=20`);
        expect(got.body.acquired).toBe(true);
        await api.delete(lockPath(b, t.body.id));
      }
    });

    it('is refused when malformed, with a 400 naming the field', async () => {
      const r = fresh('r');
      const cases: [Record<string, unknown>, string | RegExp][] = [
        [{ resources: [] }, 'resources must contain at least 1 elements'],
        [{ resources: Array.from({ length: 17 }, (_, i) => `r${i}`) }, 'resources must contain no more than 16 elements'],
        [{ resources: [r, r] }, 'resources must not name a resource twice'],
        [{ resources: [r, '  '] }, 'resources "  " must not be blank'],
        [{ resources: [r, 7] }, /resources/],
        [{ resources: 'a,b' }, /resources must be an array/],
        [{ resource: r, resources: [r] }, 'resource and resources may not be given together: use one of resource, resources or pool'],
        [{ resource: r, pool: 'p' }, 'resource and pool may not be given together: use one of resource, resources or pool'],
        [{}, 'resource is required (or resources, or pool)'],
        [{ resource: r, count: 2 }, 'count goes with pool only'],
        [{ pool: 'p', count: 0 }, 'count must not be less than 1'],
        [{ pool: 'p', count: 1.5 }, 'count must be an integer number'],
      ];
      for (const [body, message] of cases) {
        const res = await queue(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(JSON.stringify(res.body.message)).toMatch(typeof message === 'string' ? JSON.stringify(message).slice(1, -1) : message);
      }
    });

    it('replays an Idempotency-Key only for the same set, in the same order', async () => {
      const [a, b] = [fresh('a'), fresh('b')];
      const key = fresh('key');
      const first = await queue({ resources: [a, b] }, key);
      expect((await queue({ resources: [a, b] }, key)).body.id).toBe(first.body.id);
      expect((await queue({ resources: [b, a] }, key)).status).toBe(409);
      expect((await queue({ resource: a }, key)).status).toBe(409);
    });
  });

  describe('pools', () => {
    it('are defined by owners and read by every role; application and member keys may not change them', async () => {
      const pool = fresh('uat');
      const members = [fresh('org'), fresh('org'), fresh('org')];
      const put = await api.put(poolPath(pool), { resources: members, description: 'UAT orgs' });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ repository: REPO, name: pool, description: 'UAT orgs', size: 3, free: 3, held: 0, queue: [] });
      expect(put.body.members.map((m: { resource: string; state: string }) => [m.resource, m.state])).toEqual(members.map((m) => [m, 'free']));
      for (const role of ['application', 'member'] as const) {
        const key = (await createUser(cluster.url, cluster.ownerToken, { name: `${role}-${pool}`, role })).apiKey;
        const as = http(cluster.url, key);
        expect((await as.get(poolPath(pool))).status).toBe(200);
        expect((await as.get(`/sfp/api/pools/${enc(REPO)}`)).body.map((p: { name: string }) => p.name)).toContain(pool);
        expect((await as.put(poolPath(pool), { resources: members })).status).toBe(403);
        expect((await as.delete(poolPath(pool))).status).toBe(403);
      }
      const limited = (await createUser(cluster.url, cluster.ownerToken, { name: `limited-${pool}`, role: 'owner', repositories: ['other/*'] })).apiKey;
      expect((await http(cluster.url, limited).get(poolPath(pool))).status).toBe(403);
      expect((await api.get(poolPath(fresh('none')))).status).toBe(404);
    });

    it('grant count free members, answer under the pool and each member held, and queue the rest in the global order', async () => {
      const pool = fresh('pool');
      const [m1, m2] = [fresh('m'), fresh('m')];
      await api.put(poolPath(pool), { resources: [m1, m2] });
      const first = await queue({ pool, count: 2 });
      expect(first.body).toMatchObject({ status: 'acquired', pool, count: 2 });
      expect([...first.body.resources].sort()).toEqual([m1, m2].sort());
      const waiting = await queue({ pool });
      expect(waiting.body).toMatchObject({ status: 'queued', resource: pool, resources: [], queuePosition: 1, fencingTokens: {} });
      const named = await queue({ resource: m1 });
      expect(named.body.queuePosition).toBe(2);
      const view = await api.get(poolPath(pool));
      expect([view.body.free, view.body.held, view.body.queue.map((t: { id: string }) => t.id)]).toEqual([0, 2, [waiting.body.id]]);
      expect((await api.get(lockPath(pool))).body.map((t: { id: string }) => t.id)).toEqual([first.body.id, waiting.body.id]);

      const poll = api.post(`${lockPath(pool, waiting.body.id, 'acquire')}?waitSeconds=20`);
      await new Promise((r) => setTimeout(r, 200));
      await api.delete(lockPath(pool, first.body.id));
      const woken = await poll;
      expect(woken.body.acquired).toBe(true);
      const got = woken.body.ticket.resource;
      expect((await api.get(lockPath(got, waiting.body.id))).body.status).toBe('acquired');
      // The member it did not take goes to the named ticket, or stays free for it.
      expect((await api.get(lockPath(m1, named.body.id))).body.status).toBe(got === m1 ? 'queued' : 'acquired');
    });

    it('refuse names shared between a pool and a resource, unknown pools and counts above the size', async () => {
      const pool = fresh('pool');
      const resource = fresh('res');
      await queue({ resource });
      expect((await api.put(poolPath(resource), { resources: [fresh('m')] })).status).toBe(409);
      await api.put(poolPath(pool), { resources: [fresh('m')] });
      const asResource = await queue({ resource: pool });
      expect([asResource.status, asResource.body.message]).toEqual([409, `'${pool}' is the name of a pool of ${REPO}, not of a resource: ask for it with pool`]);
      expect((await api.put(poolPath(fresh('p2')), { resources: [pool] })).status).toBe(409);
      expect((await queue({ pool: fresh('nope') })).status).toBe(404);
      const tooMany = await queue({ pool, count: 2 });
      expect([tooMany.status, tooMany.body.message]).toEqual([400, `count must be at most 1, the size of pool '${pool}'`]);
      for (const body of [{ resources: [] }, { resources: Array.from({ length: 101 }, (_, i) => `m${i}`) }, { resources: ['a', 'a'] }, { resources: ['\u0000'] }, {}]) {
        expect((await api.put(poolPath(pool), body)).status).toBe(400);
      }
    });

    it('when deleted, cancel their waiting tickets and leave held members held', async () => {
      const pool = fresh('pool');
      const m = fresh('m');
      await api.put(poolPath(pool), { resources: [m] });
      const holder = await queue({ pool });
      const waiter = await queue({ pool });
      const del = await api.delete(poolPath(pool));
      expect([del.status, del.body.deleted, del.body.cancelled, del.body.tickets[0].id]).toEqual([200, pool, 1, waiter.body.id]);
      expect((await api.get(lockPath(m, holder.body.id))).body.status).toBe('acquired');
      expect((await api.get(poolPath(pool))).status).toBe(404);
      expect((await api.delete(poolPath(pool))).status).toBe(404);
      // Both stay reachable under the pool's name, where their clients know them: the waiter
      // hears why it ended, the holder renews and releases as before.
      const cancelled = await api.post(lockPath(pool, waiter.body.id, 'acquire'));
      expect([cancelled.status, cancelled.body.releaseReason]).toEqual([409, 'cancelled']);
      expect((await api.get(lockPath(pool, holder.body.id))).body).toMatchObject({ status: 'acquired', pool, resources: [m] });
      expect((await api.post(lockPath(pool, holder.body.id, 'renew'), { leaseDurationSeconds: 120 })).status).toBe(200);
      expect((await api.delete(lockPath(pool, holder.body.id))).status).toBe(200);
      expect((await api.get(lockPath(m, holder.body.id))).body.status).toBe('released');
    });

    it('never let a Dapr try-lock take a member a waiting pool ticket can use', async () => {
      const store = 'lockstore';
      const pool = fresh('pool');
      const [m1, m2] = [fresh('m'), fresh('m')];
      const poolUrl = `/sfp/api/pools/${store}/${enc(pool)}`;
      expect((await api.put(poolUrl, { resources: [m1, m2] })).status).toBe(200);
      const dapr: DaprClient = daprClient(cluster.url, cluster.ownerToken);
      expect((await dapr.lock.lock(store, m1, 'owner-1', 60)).success).toBe(true);
      await api.post('/sfp/api/locks', { repository: store, pool, count: 2, leaseDurationSeconds: 60 });
      // m2 is free, but the pool ticket, queued first, waits for it.
      expect((await dapr.lock.lock(store, m2, 'owner-2', 60)).success).toBe(false);
      // A pool's name is no lock name.
      expect((await dapr.lock.lock(store, pool, 'owner-3', 60)).success).toBe(false);
      expect((await dapr.lock.unlock(store, m1, 'owner-1')).status).toBe(0);
      expect((await api.get(poolUrl)).body.held).toBe(2);
    });
  });
});
