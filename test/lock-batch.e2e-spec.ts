import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { Actor, LockStore, QueueInput } from '../src/mutex/lock-store';
import { PostgresLockStore } from '../src/mutex/postgres-lock-store';
import { startCluster, TestCluster } from './support/test-app';

/**
 * Concurrent lock operations share one `mutex_batch` transaction. A batch must never make one
 * lock's operations wait on another's: it takes its locks without waiting and hands back the
 * operations whose lock another transaction holds, which then run (and wait) on their own.
 */
const actor: Actor = { id: randomUUID(), name: 'batch-test' };
const REPO = `batch/${process.pid}`;

let cluster: TestCluster;
let repo: PostgresLockStore;
let pg: Client;

beforeAll(async () => {
  // No sweep: a test here needs an overdue lease left for a read to settle.
  cluster = await startCluster(1, { SWEEP_INTERVAL_MS: '60000', SWEEP_DEADLINE_GRACE_MS: '60000' });
  repo = cluster.instances[0].app.get(LockStore) as PostgresLockStore;
  pg = new Client({ connectionString: cluster.databaseUrl });
  await pg.connect();
});

afterAll(async () => {
  await pg?.end();
  await cluster?.close();
});

const input = (resource: string, ticketId: string = randomUUID()): QueueInput => ({
  repository: REPO,
  resources: [resource],
  pool: null,
  ticketId,
  requesterId: actor.id,
  requesterName: actor.name,
  owner: null,
  source: 'sfp',
  reason: null,
  metadata: null,
  leaseSeconds: 60,
  waitSeconds: null,
  idempotencyKey: null,
  tryOnly: false,
});
const enqueue = (resource: string, ticketId?: string): ReturnType<LockStore['queue']> => repo.queue(input(resource, ticketId));

describe('lock operation batches', () => {
  it('answer the operations on free locks while another lock of the same batch is held elsewhere', async () => {
    const holder = (await enqueue('held')).ticket!;
    // Another transaction (an admin's force clear, a sweep, another instance) holds the lock's guard.
    await pg.query('BEGIN');
    await pg.query('SELECT mutex_guard_lock($1, $2)', [REPO, 'held']);
    const before = { ...repo.batcher.stats };
    let releaseDone = false;
    try {
      // Issued in one turn of the event loop: they go out as one batch.
      const release = repo.release(holder.id, REPO, 'held', actor).then((r) => ((releaseDone = true), r));
      const started = Date.now();
      const [a, b] = await Promise.all([enqueue('free-a'), enqueue('free-b')]);
      expect([a.ticket!.status, b.ticket!.status]).toEqual(['acquired', 'acquired']);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(releaseDone).toBe(false);
      expect(repo.batcher.stats.batches).toBe(before.batches + 1);
      expect(repo.batcher.stats.ranAlone).toBe(before.ranAlone + 1);
      await pg.query('COMMIT');
      // On its own, the release waited for the lock and then did its work.
      const released = await release;
      expect(released.outcome).toBe('ok');
      expect(released.ticket!.releaseReason).toBe('released');
    } finally {
      await pg.query('ROLLBACK').catch(() => undefined);
    }
  });

  it('hand back every operation on a lock held elsewhere, in order, and run the rest (mutex_batch itself)', async () => {
    const held = (await enqueue('held-sql')).ticket!;
    await pg.query('BEGIN');
    await pg.query('SELECT mutex_guard_lock($1, $2)', [REPO, 'held-sql']);
    const other = new Client({ connectionString: cluster.databaseUrl });
    await other.connect();
    try {
      const queue = (resource: string) => ({
        op: 'queue', repository: REPO, resource, ticketId: randomUUID(), requesterId: actor.id, requesterName: actor.name,
        source: 'sfp', leaseSeconds: 60, try: false,
      });
      const ops = [
        queue('held-sql'),
        queue('free-sql'),
        { op: 'release', repository: REPO, resource: 'held-sql', ticketId: held.id, actorId: actor.id, actorName: actor.name },
        queue('free-sql'),
      ];
      const { rows } = await other.query<{ r: { outcome: string; ticket?: { status: string } } }>(
        'SELECT r FROM mutex_batch($1::jsonb) AS r',
        [JSON.stringify(ops)],
      );
      expect(rows.map(({ r }) => [r.outcome, r.ticket?.status])).toEqual([
        ['retry', undefined],
        ['ok', 'acquired'],
        ['retry', undefined],
        ['ok', 'queued'],
      ]);
    } finally {
      await other.end();
      await pg.query('ROLLBACK');
    }
  });

  it('give up waiting within a moment when a read must settle a lock held elsewhere, and run each operation on its own', async () => {
    const expiring = (await repo.queue({ ...input('due'), leaseSeconds: 1 })).ticket!;
    await new Promise((r) => setTimeout(r, 1_100)); // its lease is over: reading it must settle the lock
    await pg.query('BEGIN');
    await pg.query('SELECT mutex_guard_lock($1, $2)', [REPO, 'due']);
    let statusDone = false;
    try {
      const status = repo.settleTicket(expiring.id, REPO, 'due').then((r) => ((statusDone = true), r));
      const started = Date.now();
      const other = await enqueue('free-c');
      expect(other.ticket!.status).toBe('acquired');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(statusDone).toBe(false);
      await pg.query('COMMIT');
      const read = await status;
      expect(read.ticket!.releaseReason).toBe('expired');
      expect(read.ended.map((t) => t.id)).toEqual([expiring.id]);
    } finally {
      await pg.query('ROLLBACK').catch(() => undefined);
    }
  });

  it('keep the order of operations on a busy lock when they run on their own', async () => {
    await enqueue('order');
    await pg.query('BEGIN');
    await pg.query('SELECT mutex_guard_lock($1, $2)', [REPO, 'order']);
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const queued = ids.map((id) => enqueue('order', id));
    await new Promise((r) => setTimeout(r, 200));
    await pg.query('COMMIT');
    const answers = await Promise.all(queued);
    // Queued in the order they were sent: positions 1, 2, 3 behind the holder.
    expect(answers.map((r) => [r.ticket!.id, r.ticket!.queuePosition])).toEqual(ids.map((id, i) => [id, i + 1]));
  });
});
