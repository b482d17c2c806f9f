import { Client } from 'pg';
import { Wakeups } from '../src/mutex/wakeups.service';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

const REPO = 'no-redis/repo';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Without REDIS_URL (nor Sentinel, nor Cluster) there is no Redis at all: a mode, not an outage. */
describe('without Redis', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster(2, {
      REDIS_URL: '',
      // Long-polls re-read only every 10 s and cached keys live a minute: anything quicker was a notification.
      LONG_POLL_RECHECK_MS: '10000',
      AUTH_CACHE_TTL_MS: '60000',
      SYNCHRONIZE_ANONYMOUS_PER_MINUTE: '2',
      RELEASED_RETENTION_SECONDS: '1',
      AUDIT_RETENTION_DAYS: '0.00003', // 2.6 s
      RELEASED_PURGE_INTERVAL_MS: '200',
    });
  });
  afterAll(() => cluster?.close());

  it('is healthy, and /health says Redis is not configured', async () => {
    for (const i of cluster.instances) {
      const health = await http(i.url).get('/health');
      expect(health.status).toBe(200);
      expect(health.body.info.redis).toEqual({ status: 'up', mode: 'none', message: 'not configured' });
    }
  });

  it('ends a lease at its end with its in-process timer, and wakes a waiter on another instance through PostgreSQL', async () => {
    const [a, b] = cluster.instances.map((i) => http(i.url, cluster.ownerToken));
    const holder = (await a.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 1 })).body;
    const waiter = (await a.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
    const t0 = Date.now();
    const r = await b.post(`/sfp/api/locks/${enc(REPO)}/env/${waiter.id}/acquire?waitSeconds=30`);
    expect(r.body.acquired).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000); // its lease end (1 s), not a 10 s re-read
    expect((await b.get(`/sfp/api/locks/${enc(REPO)}/env/${holder.id}`)).body).toMatchObject({ status: 'released', releaseReason: 'expired' });
    // Which instance ended that lease is a race: instance 0's timer, or instance 1's sweep when
    // the timer runs late on a loaded machine. The release below crosses instances for certain.

    // A release on one instance wakes a long-poll on the other at once, through PostgreSQL.
    const wakeups = cluster.instances[0].app.get(Wakeups).stats;
    const notifiedBefore = wakeups.postgres;
    const next = (await a.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
    const poll = b.post(`/sfp/api/locks/${enc(REPO)}/env/${next.id}/acquire?waitSeconds=30`);
    await sleep(300);
    const t1 = Date.now();
    expect((await a.delete(`/sfp/api/locks/${enc(REPO)}/env/${waiter.id}`)).status).toBe(200);
    expect((await poll).body.acquired).toBe(true);
    expect(Date.now() - t1).toBeLessThan(1_000);
    // Instance 0 counts its NOTIFY once PostgreSQL has confirmed it, which can be after the waiter
    // it woke has answered: wait for the count.
    for (let i = 0; i < 50 && wakeups.postgres <= notifiedBefore; i++) await sleep(100);
    expect(wakeups.postgres).toBeGreaterThan(notifiedBefore);
    expect(cluster.instances.map((i) => i.app.get(Wakeups).stats.redis)).toEqual([0, 0]);
  });

  it('revokes a key on every instance at once', async () => {
    const [a, b] = cluster.instances.map((i) => i.url);
    const user = await createUser(a, cluster.ownerToken, { name: 'revoked', role: 'application' });
    expect((await http(b, user.apiKey).get('/sfp/api/users/me')).status).toBe(200); // now cached on b for a minute
    expect((await http(a, cluster.ownerToken).delete(`/sfp/api/users/${user.id}`)).status).toBe(200);
    let status = 0;
    for (let i = 0; i < 20 && status !== 401; i++) {
      status = (await http(b, user.apiKey).get('/sfp/api/users/me')).status;
      if (status !== 401) await sleep(50);
    }
    expect(status).toBe(401);
  });

  it('limits anonymous sign-ups per instance, in memory', async () => {
    const api = http(cluster.instances[0].url);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await api.post('/api/v0/users/anonymous')).status);
    expect(codes).toEqual([200, 200, 429]);
  });

  it('purges released tickets on a plain timer', async () => {
    const api = http(cluster.url, cluster.ownerToken);
    const t = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'purged', leaseDurationSeconds: 60 })).body;
    expect((await api.delete(`/sfp/api/locks/${enc(REPO)}/purged/${t.id}`)).status).toBe(200);
    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    try {
      let n = 1;
      for (let i = 0; i < 150 && n > 0; i++) {
        await sleep(100);
        n = (await pg.query('SELECT count(*)::int AS n FROM tickets WHERE id = $1', [t.id])).rows[0].n;
      }
      expect(n).toBe(0);
    } finally {
      await pg.end();
    }
  });
});
