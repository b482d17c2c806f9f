import { http, startCluster, TestCluster } from './support/test-app';
import { TcpProxy } from './support/tcp-proxy';
import { Wakeups } from '../src/mutex/wakeups.service';

const REPO = 'outage/repo';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T;
  do {
    last = await fn();
    if (ok(last)) return last;
    await sleep(100);
  } while (Date.now() < end);
  return last;
}

describe('PostgreSQL or Redis unreachable', () => {
  const pgProxy = new TcpProxy(5432);
  const redisProxy = new TcpProxy(6379);
  let cluster: TestCluster;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    await pgProxy.start();
    await redisProxy.start();
    cluster = await startCluster(
      1,
      { REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`, SWEEP_INTERVAL_MS: '200' },
      { mapDatabaseUrl: (url) => url.replace(':5432/', `:${pgProxy.port}/`) },
    );
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await pgProxy.restore();
    await redisProxy.restore();
    const t0 = Date.now();
    await cluster?.close();
    if (Date.now() - t0 > 5_000) console.warn(`cluster close took ${Date.now() - t0} ms`);
    await pgProxy.cut();
    await redisProxy.cut();
  });

  it('answers 503 with a clear message while PostgreSQL is down, and recovers by itself', async () => {
    const before = await api.post('/sfp/api/locks', { repository: REPO, resource: 'db', leaseDurationSeconds: 60 });
    expect(before.status).toBe(201);
    await pgProxy.cut();
    const during = await api.post('/sfp/api/locks', { repository: REPO, resource: 'db', leaseDurationSeconds: 60 });
    expect(during.status).toBe(503);
    expect(during.body.message).toMatch(/unavailable/i);
    const status = await api.get(`/sfp/api/locks/${enc(REPO)}/db/${before.body.id}`);
    expect(status.status).toBe(503);
    const health = await api.get('/health');
    expect(health.status).toBe(503);
    expect(health.body.error.postgres.status).toBe('down');
    await pgProxy.restore();
    const after = await eventually(
      () => api.post('/sfp/api/locks', { repository: REPO, resource: 'db', leaseDurationSeconds: 60 }),
      (r) => r.status === 201,
    );
    expect(after.status).toBe(201);
    // Nothing half-written: the failed request left no ticket; the new one queues right behind the holder.
    expect(after.body).toMatchObject({ status: 'queued', queuePosition: 1 });
    expect((await api.get('/health')).status).toBe(200);
  });

  it('keeps granting and expiring locks while Redis is down (PostgreSQL is the truth), and /health says so', async () => {
    await redisProxy.cut();
    const holder = await api.post('/sfp/api/locks', { repository: REPO, resource: 'redis', leaseDurationSeconds: 1 });
    expect(holder.status).toBe(201);
    expect(holder.body.status).toBe('acquired');
    const waiter = await api.post('/sfp/api/locks', { repository: REPO, resource: 'redis', leaseDurationSeconds: 60 });
    expect(waiter.body.status).toBe('queued');
    const health = await eventually(() => api.get('/health'), (r) => r.status === 503);
    expect(health.body.error.redis.status).toBe('down');
    // No BullMQ job could be written: the sweep must still hand the lock over.
    const granted = await api.post(`/sfp/api/locks/${enc(REPO)}/redis/${waiter.body.id}/acquire?waitSeconds=5`);
    expect(granted.status).toBe(200);
    expect(granted.body.acquired).toBe(true);
    await redisProxy.restore();
    expect((await eventually(() => api.get('/health'), (r) => r.status === 200)).status).toBe(200);
  });
});

describe('starting while Redis is unreachable', () => {
  it('comes up, serves locks from PostgreSQL, reports Redis down, and recovers when Redis appears', async () => {
    const redisProxy = new TcpProxy(6379);
    await redisProxy.start();
    await redisProxy.cut(); // the port is known but nothing answers
    const t0 = Date.now();
    const cluster = await startCluster(1, { REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`, SWEEP_INTERVAL_MS: '200' });
    try {
      expect(Date.now() - t0).toBeLessThan(20_000);
      const api = http(cluster.url, cluster.ownerToken);
      expect((await api.get('/health')).status).toBe(503);
      const holder = await api.post('/sfp/api/locks', { repository: REPO, resource: 'cold-start', leaseDurationSeconds: 1 });
      expect(holder.status).toBe(201);
      const waiter = await api.post('/sfp/api/locks', { repository: REPO, resource: 'cold-start', leaseDurationSeconds: 60 });
      const granted = await api.post(`/sfp/api/locks/${enc(REPO)}/cold-start/${waiter.body.id}/acquire?waitSeconds=5`);
      expect(granted.body.acquired).toBe(true);
      await redisProxy.restore();
      expect((await eventually(() => api.get('/health'), (r) => r.status === 200)).status).toBe(200);
    } finally {
      await redisProxy.restore();
      await cluster.close();
      await redisProxy.cut();
    }
  });
});

describe('one instance losing Redis while the others keep it', () => {
  const redisProxy = new TcpProxy(6379);
  let cluster: TestCluster;

  beforeAll(async () => {
    await redisProxy.start();
    // Long-polls re-read only every 10 s, so an answer within a second was a wake-up (or the
    // degraded instance's own short re-reads).
    cluster = await startCluster(1, { LONG_POLL_RECHECK_MS: '10000' });
    await cluster.addInstance({ REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` });
  });
  afterAll(async () => {
    // Drop every socket, frozen ones included (BullMQ's blocked connections would wait on them
    // for ever), then let the instance reconnect so it closes cleanly.
    await redisProxy.cut();
    redisProxy.thaw();
    await redisProxy.restore();
    await cluster?.close();
    await redisProxy.cut();
  });

  /** Holder and waiter queued on `holdOn`, the waiter long-polling on `pollOn`, released through `holdOn`: ms until the waiter hears. */
  const handOff = async (resource: string, holdOn: string, pollOn: string) => {
    const hold = http(holdOn, cluster.ownerToken);
    const holder = (await hold.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 })).body;
    const waiter = (await hold.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 })).body;
    const poll = http(pollOn, cluster.ownerToken).post(`/sfp/api/locks/${enc(REPO)}/${resource}/${waiter.id}/acquire?waitSeconds=30`);
    await sleep(300); // the poll is waiting
    const t0 = Date.now();
    expect((await hold.delete(`/sfp/api/locks/${enc(REPO)}/${resource}/${holder.id}`)).status).toBe(200);
    const answered = await poll;
    expect(answered.body.acquired).toBe(true);
    return Date.now() - t0;
  };

  it('still wakes waiters on other instances at once (PostgreSQL NOTIFY), and its own within ~100 ms', async () => {
    const [healthy, cutOff] = cluster.instances;
    await redisProxy.cut();
    await eventually(() => http(cutOff.url).get('/health'), (r) => r.status === 503);
    // Its releases cannot go through Redis: the waiter elsewhere hears through PostgreSQL.
    expect(await handOff('from-cut-off', cutOff.url, healthy.url)).toBeLessThan(1_000);
    // Counted when the NOTIFY's own answer reaches the releasing instance, which may come after
    // the woken waiter's answer reaches us.
    expect(await eventually(async () => cutOff.app.get(Wakeups).stats.postgres, (n) => n >= 1, 1_000)).toBeGreaterThanOrEqual(1);
    // It cannot hear Redis: its waiter re-reads every 100 ms instead of every 10 s.
    expect(await handOff('to-cut-off', healthy.url, cutOff.url)).toBeLessThan(1_000);
    await redisProxy.restore();
    await eventually(() => http(cutOff.url).get('/health'), (r) => r.status === 200);
    expect(await handOff('healed', cutOff.url, healthy.url)).toBeLessThan(1_000);
  });

  it('treats a Redis that stops answering (no error, no close) the same way, and replaces the dead connections', async () => {
    const [healthy, cutOff] = cluster.instances;
    redisProxy.freeze();
    // Its pings go unanswered: within a couple of seconds it stops counting on Redis.
    await eventually(() => http(cutOff.url).get('/health'), (r) => r.status === 503);
    await sleep(2_500);
    expect(await handOff('frozen-from', cutOff.url, healthy.url)).toBeLessThan(1_000);
    expect(await handOff('frozen-to', healthy.url, cutOff.url)).toBeLessThan(1_000);
    // Redis answers new connections again, but the old sockets stay silent for ever: only
    // replacing them brings the instance back.
    redisProxy.thaw();
    expect((await eventually(() => http(cutOff.url).get('/health'), (r) => r.status === 200, 15_000)).status).toBe(200);
    expect(await handOff('thawed', cutOff.url, healthy.url)).toBeLessThan(1_000);
  });
});
