import { Client } from 'pg';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

/** The value of one series in a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[4]);
  }
  return 0;
}

describe('metrics', () => {
  let cluster: TestCluster;
  let key: string;
  const enc = encodeURIComponent;
  const scrape = async () => {
    const res = await fetch(cluster.url + '/metrics', { headers: { authorization: `Bearer ${cluster.ownerToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };

  beforeAll(async () => {
    cluster = await startCluster(1);
    key = (await createUser(cluster.url, cluster.ownerToken, { name: 'metrics-app', role: 'application' })).apiKey;
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('serves /metrics with a key, with the listed series present from the start', async () => {
    const text = await scrape();
    for (const name of [
      'queue_mutex_lock_queue_depth',
      'queue_mutex_lock_holders',
      'queue_mutex_locks_held',
      'queue_mutex_tickets_waiting',
      'queue_mutex_tickets_waiting_by_kind',
      'queue_mutex_tickets_holding_by_kind',
      'queue_mutex_pool_members',
      'queue_mutex_pool_waiting',
      'queue_mutex_locks_stuck',
      'queue_mutex_tickets_queued_total',
      'queue_mutex_grants_total',
      'queue_mutex_renewals_total',
      'queue_mutex_releases_total',
      'queue_mutex_wait_seconds',
      'queue_mutex_hold_seconds',
      'http_request_duration_seconds',
      'queue_mutex_db_batches_total',
      'queue_mutex_db_batched_operations_total',
      'queue_mutex_db_operations_run_alone_total',
      'queue_mutex_db_batches_failed_total',
      'queue_mutex_sweeps_total',
      'queue_mutex_sweep_failures_total',
      'queue_mutex_sweep_transitions_total',
      'queue_mutex_expiry_lateness_seconds',
      'queue_mutex_timer_checks_total',
      'queue_mutex_timers_handed_over_total',
      'queue_mutex_timers_taken_over_total',
      'queue_mutex_timers_in_process',
      'queue_mutex_timers_over_cap_total',
      'queue_mutex_wakeups_total',
      'process_cpu_seconds_total',
    ]) {
      expect([name, text.includes(`# TYPE ${name} `)]).toEqual([name, true]);
    }
    expect(text).toContain('queue_mutex_releases_total{reason="expired"} 0');
    expect(text).toContain('queue_mutex_expiry_lateness_seconds_count{reason="expired"} 0');
    for (const kind of ['single', 'set', 'pool']) expect(text).toContain(`queue_mutex_tickets_waiting_by_kind{kind="${kind}"} 0`);
  });

  it('moves counters, histograms and gauges on queue, grant, expiry and clear', async () => {
    const before = await scrape();
    const c = http(cluster.url, key);
    // Held with one waiter: per-lock gauges.
    const a = await c.post('/sfp/api/locks', { repository: 'acme/web', resource: 'uat', leaseDurationSeconds: 600 });
    await c.post('/sfp/api/locks', { repository: 'acme/web', resource: 'uat', leaseDurationSeconds: 1 });
    let text = await scrape();
    expect(sample(text, 'queue_mutex_lock_queue_depth', { repository: 'acme/web', resource: 'uat' })).toBe(1);
    expect(sample(text, 'queue_mutex_lock_holders', { repository: 'acme/web', resource: 'uat' })).toBe(1);
    expect(sample(text, 'queue_mutex_locks_held')).toBe(1);
    expect(sample(text, 'queue_mutex_tickets_waiting')).toBe(1);
    expect(sample(text, 'queue_mutex_tickets_queued_total', { source: 'sfp' }) - sample(before, 'queue_mutex_tickets_queued_total', { source: 'sfp' })).toBe(2);
    expect(sample(text, 'queue_mutex_grants_total', { source: 'sfp' }) - sample(before, 'queue_mutex_grants_total', { source: 'sfp' })).toBe(1);

    // Release: the waiter (1 s lease) is granted, then expires.
    expect((await c.delete(`/sfp/api/locks/${enc('acme/web')}/uat/${a.body.id}`)).status).toBe(200);
    const deadline = Date.now() + 5_000;
    do {
      await new Promise((r) => setTimeout(r, 200));
      text = await scrape();
    } while (sample(text, 'queue_mutex_releases_total', { reason: 'expired' }) < 1 && Date.now() < deadline);
    expect(sample(text, 'queue_mutex_releases_total', { reason: 'released' })).toBe(1);
    expect(sample(text, 'queue_mutex_releases_total', { reason: 'expired' })).toBe(1);
    expect(sample(text, 'queue_mutex_grants_total', { source: 'sfp' }) - sample(before, 'queue_mutex_grants_total', { source: 'sfp' })).toBe(2);
    expect(sample(text, 'queue_mutex_wait_seconds_count', { source: 'sfp' })).toBe(2);
    expect(sample(text, 'queue_mutex_hold_seconds_count', { reason: 'expired' })).toBe(1);
    expect(sample(text, 'queue_mutex_hold_seconds_sum', { reason: 'expired' })).toBeGreaterThanOrEqual(0.9);
    // A free lock leaves the per-lock gauges.
    expect(text).not.toContain('queue_mutex_lock_holders{repository="acme/web"');
    expect(sample(text, 'queue_mutex_locks_held')).toBe(0);

    // Force clear of a holder and a waiter.
    await c.post('/sfp/api/locks', { repository: 'acme/web', resource: 'prod', leaseDurationSeconds: 600 });
    await c.post('/sfp/api/locks', { repository: 'acme/web', resource: 'prod', leaseDurationSeconds: 600 });
    expect((await c.delete(`/sfp/api/locks/${enc('acme/web')}/prod`)).status).toBe(200);
    text = await scrape();
    expect(sample(text, 'queue_mutex_releases_total', { reason: 'cleared' })).toBe(2);
    expect(sample(text, 'queue_mutex_hold_seconds_count', { reason: 'cleared' })).toBe(1); // the waiter never held it
  });

  it('knows sets and pools: per-pool members and waiters, waiting and holding tickets by kind, a set counted once', async () => {
    const repository = 'acme/pools';
    const c = http(cluster.url, key);
    const before = await scrape();
    const put = await http(cluster.url, cluster.ownerToken).put(`/sfp/api/pools/${enc(repository)}/gpu`, { resources: ['g-1', 'g-2', 'g-3'] });
    expect(put.status).toBe(200);
    const queue = async (body: Record<string, unknown>) => (await c.post('/sfp/api/locks', { repository, leaseDurationSeconds: 600, ...body })).body;
    const set = await queue({ resources: ['s-a', 's-b'] });
    const waitingSet = await queue({ resources: ['s-b', 's-c'] }); // waits on s-b; s-c is free, yet wanted
    const pool = await queue({ pool: 'gpu', count: 2 });
    const waitingPool = await queue({ pool: 'gpu', count: 2 });
    expect([set.status, waitingSet.status, pool.status, waitingPool.status]).toEqual(['acquired', 'queued', 'acquired', 'queued']);

    const text = await scrape();
    const gpu = { repository, pool: 'gpu' };
    expect(sample(text, 'queue_mutex_pool_members', { ...gpu, state: 'free' })).toBe(1);
    expect(sample(text, 'queue_mutex_pool_members', { ...gpu, state: 'held' })).toBe(2);
    expect(sample(text, 'queue_mutex_pool_waiting', gpu)).toBe(1);
    const delta = (name: string, labels: Record<string, string> = {}) => sample(text, name, labels) - sample(before, name, labels);
    expect(delta('queue_mutex_tickets_waiting_by_kind', { kind: 'set' })).toBe(1);
    expect(delta('queue_mutex_tickets_waiting_by_kind', { kind: 'pool' })).toBe(1);
    expect(delta('queue_mutex_tickets_waiting_by_kind', { kind: 'single' })).toBe(0);
    expect(delta('queue_mutex_tickets_holding_by_kind', { kind: 'set' })).toBe(1);
    expect(delta('queue_mutex_tickets_holding_by_kind', { kind: 'pool' })).toBe(1);
    // The waiting set is in the queue of both its locks but is one ticket waiting.
    expect(delta('queue_mutex_tickets_waiting')).toBe(2);
    const kinds = ['single', 'set', 'pool'].map((kind) => sample(text, 'queue_mutex_tickets_waiting_by_kind', { kind }));
    expect(kinds.reduce((a, b) => a + b, 0)).toBe(sample(text, 'queue_mutex_tickets_waiting'));
    for (const resource of ['s-b', 's-c']) expect([resource, sample(text, 'queue_mutex_lock_queue_depth', { repository, resource })]).toEqual([resource, 1]);
    expect(sample(text, 'queue_mutex_lock_holders', { repository, resource: 's-a' })).toBe(1);
    expect(delta('queue_mutex_locks_held')).toBe(4); // s-a, s-b and two gpu members

    // Released, everything is free again and nobody waits (the waiters are granted, then cancelled here).
    for (const ticket of [set, pool, waitingSet, waitingPool]) {
      expect((await c.delete(`/sfp/api/locks/${enc(repository)}/${enc(ticket.resource)}/${ticket.id}`)).status).toBe(200);
    }
    const after = await scrape();
    expect(sample(after, 'queue_mutex_pool_members', { ...gpu, state: 'free' })).toBe(3);
    expect(sample(after, 'queue_mutex_pool_waiting', gpu)).toBe(0);
    for (const kind of ['set', 'pool']) expect(sample(after, 'queue_mutex_tickets_waiting_by_kind', { kind })).toBe(0);
  });

  it('keeps per-pool series for the busiest 1,000 pools only', async () => {
    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    try {
      // 1,000 idle one-member pools beside gpu (as owners would define them; written directly, for speed).
      await pg.query(`
        WITH l AS (INSERT INTO locks (repository, resource, coupled) SELECT 'bulk/repo', 'm-' || g, 1 FROM generate_series(1, 1000) g RETURNING id, resource),
             p AS (INSERT INTO pools (repository, name) SELECT 'bulk/repo', 'p-' || g FROM generate_series(1, 1000) g RETURNING id, name)
        INSERT INTO pool_members (pool_id, lock_id, position) SELECT p.id, l.id, 0 FROM p JOIN l ON substr(l.resource, 3) = substr(p.name, 3)`);
      const c = http(cluster.url, key);
      const holder = await c.post('/sfp/api/locks', { repository: 'acme/pools', pool: 'gpu', count: 3, leaseDurationSeconds: 600 });
      const waiter = await c.post('/sfp/api/locks', { repository: 'acme/pools', pool: 'gpu', leaseDurationSeconds: 600 });
      expect([holder.body.status, waiter.body.status]).toEqual(['acquired', 'queued']);
      const text = await scrape();
      const series = (name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));
      expect(series('queue_mutex_pool_waiting')).toHaveLength(1_000);
      expect(series('queue_mutex_pool_members')).toHaveLength(2_000);
      // The pool with a waiter is kept.
      expect(sample(text, 'queue_mutex_pool_waiting', { repository: 'acme/pools', pool: 'gpu' })).toBe(1);
      expect(sample(text, 'queue_mutex_pool_members', { repository: 'acme/pools', pool: 'gpu', state: 'held' })).toBe(3);
      await c.delete(`/sfp/api/locks/${enc('acme/pools')}/gpu`);
    } finally {
      await pg.query(`DELETE FROM pools WHERE repository = 'bulk/repo'`);
      await pg.query(`DELETE FROM locks WHERE repository = 'bulk/repo'`);
      await pg.end();
    }
  });

  it('times HTTP requests by route pattern, not raw URL, including 401s and 404s', async () => {
    await http(cluster.url).get('/sfp/api/admin/resources');
    await http(cluster.url, key).get(`/sfp/api/locks/${enc('acme/web')}/uat/4f1c1c9e-3d1a-4b7e-9a53-0c0b2a1d9e11`);
    await http(cluster.url).get('/no/such/path');
    const text = await scrape();
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/sfp/api/admin/resources', status_code: '401' })).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/sfp/api/locks/:repository/:resource/:ticketId', status_code: '404' })).toBe(1);
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(text).not.toContain('4f1c1c9e-3d1a');
    expect(text).not.toContain('/no/such/path');
  });

  it('needs a key of any role (only health, docs, dashboard and anonymous sign-up are open)', async () => {
    expect((await fetch(cluster.url + '/metrics')).status).toBe(401);
    const member = await createUser(cluster.url, cluster.ownerToken, { name: 'scraper', role: 'member' });
    expect((await fetch(cluster.url + '/metrics', { headers: { authorization: `Bearer ${member.apiKey}` } })).status).toBe(200);
  });

  it('refuses keys limited to repositories, since the per-lock series name every repository', async () => {
    const limited = await createUser(cluster.url, cluster.ownerToken, { name: 'org-scraper', role: 'owner', repositories: ['org/*'] });
    const anonymous = (await http(cluster.url).post('/api/v0/users/anonymous')).body.apiKey;
    for (const key of [limited.apiKey, anonymous]) {
      const res = await fetch(cluster.url + '/metrics', { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ message: expect.stringMatching(/not limited to repositories/) });
    }
  });

  it('keeps a registry per app instance', async () => {
    const other = await cluster.addInstance();
    const text = await (await fetch(other.url + '/metrics', { headers: { authorization: `Bearer ${cluster.ownerToken}` } })).text();
    expect(sample(text, 'queue_mutex_grants_total', { source: 'sfp' })).toBe(0);
    // The lock gauges come from PostgreSQL and agree across instances.
    expect(sample(text, 'queue_mutex_locks_held')).toBe(sample(await scrape(), 'queue_mutex_locks_held'));
  });
});
