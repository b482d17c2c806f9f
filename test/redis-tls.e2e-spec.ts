import { readFileSync } from 'node:fs';
import { DeadlineJobs } from '../src/mutex/deadline-jobs';
import { LockTimers } from '../src/mutex/lock-timers.service';
import { Wakeups } from '../src/mutex/wakeups.service';
import { commandTls, RedisServer, RedisServers, until } from './support/redis-servers';
import { http, startCluster, TestCluster } from './support/test-app';

const REPO = 'tls/repo';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Redis over TLS, against a real redis-server that speaks nothing else and a certificate signed
 * by an authority of the test's own: trusted through REDIS_TLS_CA_FILE, everything works across
 * instances; not trusted, Redis is reported down and locks keep working without it.
 */
describe('Redis over TLS', () => {
  let servers: RedisServers;
  let redis: RedisServer & { ca: string };
  let cluster: TestCluster;

  beforeAll(async () => {
    servers = new RedisServers();
    redis = await servers.tlsNode();
    cluster = await startCluster(2, { REDIS_URL: `rediss://127.0.0.1:${redis.port}`, REDIS_TLS_CA_FILE: redis.ca });
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
    await servers?.close();
  }, 60_000);

  it('with the authority trusted: healthy, wake-ups cross instances through Redis, lease jobs are written there', async () => {
    for (const i of cluster.instances) {
      expect((await http(i.url).get('/health')).body).toMatchObject({ info: { redis: { status: 'up', mode: 'single' } } });
    }
    const [a, b] = cluster.instances;
    const onA = http(a.url, cluster.ownerToken);
    const onB = http(b.url, cluster.ownerToken);
    const holder = (await onA.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
    const waiter = (await onB.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
    expect([holder.status, waiter.status]).toEqual(['acquired', 'queued']);

    // The lease's BullMQ job is written to the TLS node 50 ms into the hold.
    const ca = readFileSync(redis.ca);
    const jobKey = `${cluster.redisPrefix}:bull:lock-timers:lease-${holder.id}`;
    await until('the lease job on the TLS node', async () => (await commandTls(redis.port, ca, 'EXISTS', jobKey)) === 1, 5_000);

    const published = a.app.get(Wakeups).stats.redis;
    const poll = onB.post(`/sfp/api/locks/${enc(REPO)}/env/${waiter.id}/acquire?waitSeconds=30`);
    await sleep(300);
    const t0 = Date.now();
    expect((await onA.delete(`/sfp/api/locks/${enc(REPO)}/env/${holder.id}`)).status).toBe(200);
    expect((await poll).body).toMatchObject({ acquired: true });
    expect(Date.now() - t0).toBeLessThan(1_000); // woken, not the periodic re-read
    expect(a.app.get(Wakeups).stats.redis).toBeGreaterThan(published);

    // A deadline job runs through a worker connected over TLS (any instance's worker may take it).
    const checks = () => cluster.instances.reduce((n, i) => n + i.app.get(LockTimers).stats.bullmqChecks, 0);
    const before = checks();
    await b.app.get(DeadlineJobs).add([{ jobId: `probe-${holder.id}`, ticketId: holder.id, delayMs: 100 }]);
    await until('a deadline job run by a worker', async () => checks() > before, 15_000);
  }, 60_000);

  it('with an authority it does not know: Redis is reported down, and locks keep working without it', async () => {
    // No REDIS_TLS_CA_FILE: the system's authorities, which did not sign this certificate.
    const untrusting = await cluster.addInstance({ REDIS_TLS_CA_FILE: '' });
    const health = await http(untrusting.url).get('/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ error: { redis: { status: 'down', mode: 'single' } } });
    const on = http(untrusting.url, cluster.ownerToken);
    const t = (await on.post('/sfp/api/locks', { repository: REPO, resource: 'untrusted', leaseDurationSeconds: 60 })).body;
    expect(t.status).toBe('acquired');
    expect((await on.delete(`/sfp/api/locks/${enc(REPO)}/untrusted/${t.id}`)).status).toBe(200);
    await cluster.stopInstance(untrusting);
  }, 60_000);
});
