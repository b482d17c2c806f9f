import { Client } from 'pg';
import { http, startCluster, TestCluster } from './support/test-app';

const REPO = 'flxbl-io/sf-core';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Several instances on one database, many clients cycling queue → wait → hold → release on
 * ONE lock. Checks what a pipeline relies on: at most one holder at any moment (seen by the
 * clients and by the database), grants in queue order, fencing tokens strictly increasing.
 */
describe('concurrency across instances', () => {
  const INSTANCES = 3;
  const CLIENTS = 30;
  const CYCLES = 4;
  let cluster: TestCluster;

  beforeAll(async () => {
    // Long-polls re-read only every 10 s: every hand-off below must come from a wake-up, none lost.
    cluster = await startCluster(INSTANCES, { DATABASE_POOL_SIZE: '6', LONG_POLL_RECHECK_MS: '10000' });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it(`${INSTANCES} instances, ${CLIENTS} clients, one lock: no overlap, FIFO, increasing fencing tokens`, async () => {
    const resource = 'shared-uat';
    const base = `/sfp/api/locks/${enc(REPO)}/${enc(resource)}`;
    let holders = 0;
    let maxHolders = 0;
    const clientTokens: number[] = [];
    const errors: string[] = [];

    const client = async (c: number) => {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        // Each step may go to a different instance, as behind a load balancer.
        const pick = () => http(cluster.instances[Math.floor(Math.random() * INSTANCES)].url, cluster.ownerToken);
        const q = await pick().post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 });
        if (q.status !== 201) {
          errors.push(`queue ${q.status} ${JSON.stringify(q.body)}`);
          return;
        }
        let ticket = q.body;
        while (ticket.status !== 'acquired') {
          const a = await pick().post(`${base}/${ticket.id}/acquire?waitSeconds=30`);
          if (a.status !== 200) {
            errors.push(`acquire ${a.status} ${JSON.stringify(a.body)}`);
            return;
          }
          ticket = a.body.ticket;
        }
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        clientTokens.push(ticket.fencingToken);
        await sleep(1 + Math.random() * 4);
        holders--;
        const r = await pick().delete(`${base}/${ticket.id}`);
        if (r.status !== 200) errors.push(`release ${r.status} ${JSON.stringify(r.body)} client ${c}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));

    expect(errors).toEqual([]);
    expect(maxHolders).toBe(1);
    expect(clientTokens).toHaveLength(CLIENTS * CYCLES);
    // Tokens observed by clients, in the order they got the lock, strictly increase.
    for (let i = 1; i < clientTokens.length; i++) expect(clientTokens[i]).toBeGreaterThan(clientTokens[i - 1]);

    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    try {
      const { rows } = await pg.query(
        `SELECT t.seq, t.fencing_token, t.lease_start, t.released_at, t.release_reason
           FROM tickets t JOIN locks l ON l.id = t.lock_id
          WHERE l.repository = $1 AND l.resource = $2 ORDER BY t.seq`,
        [REPO, resource],
      );
      expect(rows).toHaveLength(CLIENTS * CYCLES);
      expect(rows.every((r) => r.release_reason === 'released')).toBe(true);
      // FIFO: in queue order, tokens strictly increase (nobody was granted before an earlier waiter).
      for (let i = 1; i < rows.length; i++) expect(Number(rows[i].fencing_token)).toBeGreaterThan(Number(rows[i - 1].fencing_token));
      // No overlap in the database's own clock: each lease starts after the previous release.
      const byToken = [...rows].sort((a, b) => Number(a.fencing_token) - Number(b.fencing_token));
      for (let i = 1; i < byToken.length; i++) {
        expect(byToken[i].lease_start.getTime()).toBeGreaterThanOrEqual(byToken[i - 1].released_at.getTime());
      }
      const events = await pg.query(`SELECT type, count(*)::int AS n FROM mutex_audit_trail() WHERE resource = $1 GROUP BY type`, [resource]);
      const counts = Object.fromEntries(events.rows.map((r) => [r.type, r.n]));
      expect(counts).toEqual({ queued: CLIENTS * CYCLES, granted: CLIENTS * CYCLES, released: CLIENTS * CYCLES });
    } finally {
      await pg.end();
    }
  });

  it(`${INSTANCES} instances, ${CLIENTS} clients mixing {A}, {B}, {A, B}, {B, A} and pool tickets: no overlap on any resource, no deadlock`, async () => {
    const pool = 'mixed-pool';
    const [A, B, C] = ['mixed-a', 'mixed-b', 'mixed-c'];
    expect((await http(cluster.url, cluster.ownerToken).put(`/sfp/api/pools/${enc(REPO)}/${pool}`, { resources: [A, B, C] })).status).toBe(200);
    const kinds: Record<string, unknown>[] = [{ resource: A }, { resource: B }, { resources: [A, B] }, { resources: [B, A] }, { pool }, { pool, count: 2 }];
    const holding = new Map<string, number>();
    let overlaps = 0;
    const errors: string[] = [];
    const granted: { resources: string[]; tokens: Record<string, number> }[] = [];

    const client = async (c: number) => {
      const pick = () => http(cluster.instances[Math.floor(Math.random() * INSTANCES)].url, cluster.ownerToken);
      for (let cycle = 0; cycle < 3; cycle++) {
        const q = await pick().post('/sfp/api/locks', { repository: REPO, leaseDurationSeconds: 60, ...kinds[(c + cycle) % kinds.length] });
        if (q.status !== 201) return void errors.push(`queue ${q.status} ${JSON.stringify(q.body)}`);
        let ticket = q.body;
        // Any path of the ticket will do: its pool's name while it waits, or its first resource.
        const path = () => `/sfp/api/locks/${enc(REPO)}/${enc(ticket.resource)}/${ticket.id}`;
        while (ticket.status !== 'acquired') {
          const a = await pick().post(`${path()}/acquire?waitSeconds=30`);
          if (a.status !== 200) return void errors.push(`acquire ${a.status} ${JSON.stringify(a.body)}`);
          ticket = a.body.ticket;
        }
        for (const r of ticket.resources) {
          holding.set(r, (holding.get(r) ?? 0) + 1);
          if (holding.get(r)! > 1) overlaps++;
        }
        granted.push({ resources: ticket.resources, tokens: ticket.fencingTokens });
        await sleep(1 + Math.random() * 4);
        for (const r of ticket.resources) holding.set(r, holding.get(r)! - 1);
        const r = await pick().delete(path());
        if (r.status !== 200) errors.push(`release ${r.status} ${JSON.stringify(r.body)}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));

    expect(errors).toEqual([]);
    expect(overlaps).toBe(0);
    expect(granted).toHaveLength(CLIENTS * 3);
    // Whole sets only: a set's ticket held both its resources, a pool ticket as many members as it asked for.
    for (const g of granted) expect(Object.keys(g.tokens).sort()).toEqual([...g.resources].sort());

    // The database's own record: per resource, grants in token order never overlap in time.
    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    try {
      const { rows } = await pg.query(
        `SELECT l.resource, coalesce(x.fencing_token, t.fencing_token) AS token, t.lease_start, t.released_at, t.release_reason
           FROM tickets t
           JOIN LATERAL (SELECT lock_id, fencing_token FROM ticket_locks WHERE ticket_id = t.id
                         UNION ALL SELECT t.lock_id, NULL WHERE NOT EXISTS (SELECT 1 FROM ticket_locks WHERE ticket_id = t.id)) x ON true
           JOIN locks l ON l.id = x.lock_id
          WHERE l.repository = $1 AND l.resource = ANY($2) AND t.lease_start IS NOT NULL`,
        [REPO, [A, B, C]],
      );
      expect(rows.every((r) => r.release_reason === 'released')).toBe(true);
      for (const resource of [A, B, C]) {
        const grants = rows.filter((r) => r.resource === resource).sort((x, y) => Number(x.token) - Number(y.token));
        expect(grants.length).toBeGreaterThan(0);
        for (let i = 1; i < grants.length; i++) {
          expect(Number(grants[i].token)).toBeGreaterThan(Number(grants[i - 1].token));
          expect(grants[i].lease_start.getTime()).toBeGreaterThanOrEqual(grants[i - 1].released_at.getTime());
        }
      }
    } finally {
      await pg.end();
    }
  });

  it('a long-poll on one instance wakes when another instance releases', async () => {
    const [a, b] = cluster.instances;
    const resource = 'cross-instance-wakeup';
    const base = `/sfp/api/locks/${enc(REPO)}/${enc(resource)}`;
    const onA = http(a.url, cluster.ownerToken);
    const onB = http(b.url, cluster.ownerToken);
    const holder = (await onA.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 })).body;
    const waiter = (await onB.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 })).body;
    const poll = onB.post(`${base}/${waiter.id}/acquire?waitSeconds=30`);
    await sleep(300);
    const t0 = Date.now();
    await onA.delete(`${base}/${holder.id}`);
    const granted = await poll;
    expect(granted.body.acquired).toBe(true);
    // Redis pub/sub, not the periodic re-check (10 s here).
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('many instances racing to try-lock and queue on fresh locks never grant twice', async () => {
    const resources = Array.from({ length: 10 }, (_, i) => `race-${i}`);
    const results = await Promise.all(
      resources.flatMap((resource) =>
        cluster.instances.flatMap((inst) =>
          Array.from({ length: 4 }, () => http(inst.url, cluster.ownerToken).post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60 })),
        ),
      ),
    );
    for (const resource of resources) {
      const mine = results.filter((r) => r.body.resource === resource);
      expect(mine).toHaveLength(INSTANCES * 4);
      expect(mine.filter((r) => r.body.status === 'acquired')).toHaveLength(1);
      const positions = mine.filter((r) => r.body.status === 'queued').map((r) => r.body.queuePosition).sort((x, y) => x - y);
      expect(positions).toEqual(Array.from({ length: INSTANCES * 4 - 1 }, (_, i) => i + 1));
    }
  });
});
