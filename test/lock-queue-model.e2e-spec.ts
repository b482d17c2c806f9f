import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import {
  initialLockState,
  LockEffect,
  LockEvent,
  LockState,
  OutcomeByEvent,
  queuePosition,
  step,
  ticketStatus,
} from '../src/mutex/domain/lock-queue.machine';
import { Ticket } from '../src/mutex/domain/ticket';
import { Actor, LockStore } from '../src/mutex/lock-store';
import { PostgresLockStore } from '../src/mutex/postgres-lock-store';
import { startCluster, TestCluster } from './support/test-app';

/**
 * Model-based (differential) test: the same random operations go to the pure machine and to
 * the real SQL functions (through the repository), and both must agree on every answer and
 * on the whole lock after every step. Leases are long and there are no wait limits, so the
 * database clock cannot make them differ; the timed tests at the end cover time on purpose.
 */

const LONG_LEASE = 3600;
const actor: Actor = { id: randomUUID(), name: 'model-test' };
const requester = { requesterId: randomUUID(), requesterName: 'model-test' };

let cluster: TestCluster;
let repo: LockStore;
let lockCounter = 0;

beforeAll(async () => {
  // The sweep would settle locks behind the timed tests' backs; keep it out of the way.
  cluster = await startCluster(1, { SWEEP_INTERVAL_MS: '60000', SWEEP_DEADLINE_GRACE_MS: '60000' });
  repo = cluster.instances[0].app.get(LockStore);
});

afterAll(async () => {
  await cluster?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const grantedIds = (effects: LockEffect[], except?: string) => effects.filter((e) => e.type === 'granted' && e.ticketId !== except).map((e) => e.ticketId);
const endedIds = (effects: LockEffect[]) => effects.filter((e) => e.type === 'ended').map((e) => e.ticketId);

/** One lock driven through both the SQL functions and the machine. */
class LockPair {
  readonly repository = `model/${process.pid}-${++lockCounter}`;
  readonly resource = 'env';
  machine: LockState = initialLockState;
  /** Every ticket id ever sent, including busy try-locks that must have left no ticket. */
  readonly sent: string[] = [];

  enqueue(ticketId: string, opts: { leaseSeconds?: number; owner?: string | null; waitSeconds?: number | null; tryOnly?: boolean } = {}) {
    this.sent.push(ticketId);
    return repo.queue({
      repository: this.repository,
      resource: this.resource,
      ticketId,
      ...requester,
      owner: opts.owner ?? null,
      source: opts.tryOnly ? 'dapr' : 'sfp',
      reason: null,
      leaseSeconds: opts.leaseSeconds ?? LONG_LEASE,
      waitSeconds: opts.waitSeconds ?? null,
      idempotencyKey: null,
      tryOnly: opts.tryOnly ?? false,
    });
  }

  apply<E extends LockEvent>(event: E): { outcome: OutcomeByEvent[E['type']]; effects: LockEffect[] } {
    const t = step(this.machine, event);
    this.machine = t.state;
    return t;
  }

  /** The SQL view of every ticket ever sent must match the machine's. */
  async expectSameLock(): Promise<void> {
    const m = this.machine;
    const list = await repo.list(this.repository, this.resource, 86_400, 10_000);
    const live = list.filter((t) => t.status !== 'released');
    expect(live.map((t) => [t.id, t.status, t.queuePosition])).toEqual(
      [m.holder, ...m.queue].filter((t) => t !== null).map((t) => [t!.ticketId, t === m.holder ? 'acquired' : 'queued', queuePosition(m, t!.ticketId)]),
    );
    const [summary] = await repo.locksIn(this.repository, 10);
    expect({ fence: summary?.fence ?? 0, queueLength: summary?.queueLength ?? 0, holder: summary?.holder?.id ?? null }).toEqual({
      fence: m.fence,
      queueLength: m.queue.length,
      holder: m.holder?.ticketId ?? null,
    });
    if (m.holder) {
      const h = live[0];
      expect([h.fencingToken, h.leaseDurationSeconds]).toEqual([m.holder.fencingToken, m.holder.leaseSeconds]);
    }
    // Nothing is due, so these reads settle nothing and may run side by side.
    const statuses = await Promise.all(this.sent.map((id) => repo.settleTicket(id, this.repository, this.resource)));
    this.sent.forEach((id, i) => {
      const r = statuses[i];
      expect(r.granted).toEqual([]);
      const status = ticketStatus(m, id);
      if (status === null) {
        expect(r.outcome).toBe('not_found');
        return;
      }
      const ended = m.ended[id];
      expect(pick(r.ticket!)).toEqual({
        status,
        queuePosition: queuePosition(m, id),
        fencingToken: m.holder?.ticketId === id ? m.holder.fencingToken : (ended?.fencingToken ?? null),
        releaseReason: ended?.reason ?? null,
      });
    });
  }
}

const pick = (t: Ticket) => ({ status: t.status, queuePosition: t.queuePosition, fencingToken: t.fencingToken, releaseReason: t.releaseReason });

type Op =
  | { kind: 'enqueue'; owner: string | null; leaseSeconds: number }
  | { kind: 'tryLock'; owner: string }
  | { kind: 'release'; pick: number }
  | { kind: 'renew'; pick: number; leaseSeconds: number | null }
  | { kind: 'clear' }
  | { kind: 'unlockOwner'; owner: string };

const owners = fc.constantFrom('o1', 'o2', 'o3');
// Two long leases, so a renew without a length must really reuse the ticket's own.
const longLease = fc.constantFrom(LONG_LEASE, 2 * LONG_LEASE);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('enqueue' as const), owner: fc.option(owners), leaseSeconds: longLease }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tryLock' as const), owner: owners }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renew' as const), pick: fc.nat(), leaseSeconds: fc.option(longLease) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unlockOwner' as const), owner: owners }) },
);

/** Runs one op on both sides, compares the answers and returns the outcome (for coverage). */
async function runOp(lock: LockPair, op: Op): Promise<string> {
  const now = Date.now();
  // Picks among the tickets sent so far, or a ticket nobody ever sent.
  const choose = (n: number) => (n % (lock.sent.length + 1) === lock.sent.length ? randomUUID() : lock.sent[n % (lock.sent.length + 1)]);
  switch (op.kind) {
    case 'enqueue':
    case 'tryLock': {
      const ticketId = randomUUID();
      const tryOnly = op.kind === 'tryLock';
      const leaseSeconds = op.kind === 'enqueue' ? op.leaseSeconds : LONG_LEASE;
      const sql = await lock.enqueue(ticketId, { owner: op.owner, tryOnly, leaseSeconds });
      const m = lock.apply(
        tryOnly ? { type: 'tryLock', now, ticketId, leaseSeconds, owner: op.owner! } : { type: 'enqueue', now, ticketId, leaseSeconds, owner: op.owner },
      );
      expect(sql.outcome).toBe(m.outcome);
      expect(sql.granted.map((t) => t.id)).toEqual(grantedIds(m.effects, ticketId));
      if (m.outcome === 'ok') {
        expect(pick(sql.ticket!)).toEqual({
          status: ticketStatus(lock.machine, ticketId),
          queuePosition: queuePosition(lock.machine, ticketId),
          fencingToken: lock.machine.holder?.ticketId === ticketId ? lock.machine.holder.fencingToken : null,
          releaseReason: null,
        });
      }
      return `${op.kind}:${m.outcome}`;
    }
    case 'release': {
      const ticketId = choose(op.pick);
      const sql = await repo.release(ticketId, lock.repository, lock.resource, actor);
      const m = lock.apply({ type: 'release', now, ticketId });
      expect(sql.outcome).toBe(m.outcome);
      expect(sql.granted.map((t) => t.id)).toEqual(grantedIds(m.effects));
      if (m.outcome !== 'not_found') expect(sql.ticket?.releaseReason).toBe(lock.machine.ended[ticketId].reason);
      return `release:${m.outcome}`;
    }
    case 'renew': {
      const ticketId = choose(op.pick);
      const sql = await repo.renew(ticketId, lock.repository, lock.resource, op.leaseSeconds, actor);
      const m = lock.apply({ type: 'renew', now, ticketId, leaseSeconds: op.leaseSeconds });
      expect(sql.outcome).toBe(m.outcome);
      if (m.outcome === 'ok') {
        expect(sql.ticket!.leaseDurationSeconds).toBe(lock.machine.holder!.leaseSeconds);
        expect(sql.ticket!.leaseExpiresAt!.getTime() - sql.ticket!.renewedAt!.getTime()).toBe(lock.machine.holder!.leaseSeconds * 1000);
      }
      return `renew:${m.outcome}`;
    }
    case 'clear': {
      const sql = await repo.clearLock(lock.repository, lock.resource, actor);
      const m = lock.apply({ type: 'clear', now });
      expect(sql.ended.map((t) => [t.id, t.releaseReason])).toEqual(endedIds(m.effects).map((id) => [id, 'cleared']));
      expect(sql.granted).toEqual([]);
      return `clear:${endedIds(m.effects).length > 0 ? 'some' : 'none'}`;
    }
    case 'unlockOwner': {
      const sql = await repo.releaseOwner(lock.repository, lock.resource, op.owner, actor);
      const m = lock.apply({ type: 'unlockOwner', now, owner: op.owner });
      expect(sql.status).toBe(m.outcome);
      expect(sql.granted.map((t) => t.id)).toEqual(grantedIds(m.effects));
      return `unlockOwner:${m.outcome}`;
    }
  }
}

describe('lock queue: SQL functions and the pure machine agree', () => {
  it('on random sequences of enqueue, tryLock, release, renew, clear and unlockOwner', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), async (ops) => {
        const lock = new LockPair();
        for (const op of ops) {
          const outcome = await runOp(lock, op);
          seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
          await lock.expectSameLock();
        }
      }),
      { numRuns: 40 },
    );
    // The random sequences must actually reach every answer, or agreeing proves little.
    expect([...seen.keys()].sort()).toEqual(
      [
        'enqueue:ok',
        'tryLock:ok',
        'tryLock:busy',
        'release:ok',
        'release:ended',
        'release:not_found',
        'renew:ok',
        'renew:not_holder',
        'renew:not_found',
        'clear:some',
        'clear:none',
        'unlockOwner:0',
        'unlockOwner:1',
        'unlockOwner:2',
      ].sort(),
    );
  }, 120_000);

  it('on random bursts of enqueue, tryLock and release sent at once, which share one batch and one transaction', async () => {
    type BurstOp = { kind: 'enqueue' | 'tryLock'; owner: string } | { kind: 'release'; pick: number };
    const burstOp: fc.Arbitrary<BurstOp> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('enqueue' as const), owner: owners }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('tryLock' as const), owner: owners }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    );
    const { stats } = (repo as PostgresLockStore).batcher;
    const before = { ...stats };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(burstOp, { minLength: 2, maxLength: 8 }), { minLength: 1, maxLength: 6 }), async (bursts) => {
        // Two locks at once: the batch orders them by lock, each lock keeps its own order.
        const locks = [new LockPair(), new LockPair()];
        for (const burst of bursts) {
          const sent = burst.map((op, i) => {
            const lock = locks[i % 2];
            if (op.kind === 'release') {
              const ticketId = lock.sent.length > 0 ? lock.sent[op.pick % lock.sent.length] : randomUUID();
              return { lock, op, ticketId, sql: repo.release(ticketId, lock.repository, lock.resource, actor) };
            }
            const ticketId = randomUUID();
            return { lock, op, ticketId, sql: lock.enqueue(ticketId, { owner: op.owner, tryOnly: op.kind === 'tryLock' }) };
          });
          const answers = await Promise.all(sent.map((s) => s.sql));
          sent.forEach(({ lock, op, ticketId }, i) => {
            const sql = answers[i];
            const now = Date.now();
            const m =
              op.kind === 'release'
                ? lock.apply({ type: 'release', now, ticketId })
                : lock.apply(op.kind === 'tryLock' ? { type: 'tryLock', now, ticketId, leaseSeconds: LONG_LEASE, owner: op.owner } : { type: 'enqueue', now, ticketId, leaseSeconds: LONG_LEASE, owner: op.owner });
            expect(sql.outcome).toBe(m.outcome);
            expect(sql.granted.map((t) => t.id)).toEqual(grantedIds(m.effects, op.kind === 'release' ? undefined : ticketId));
            if (m.outcome === 'ok' || m.outcome === 'ended') expect(sql.ticket?.status).toBe(ticketStatus(lock.machine, ticketId));
          });
          for (const lock of locks) await lock.expectSameLock();
        }
      }),
      { numRuns: 25 },
    );
    // The bursts really went out as batches of several operations.
    const batches = stats.batches - before.batches;
    expect(batches).toBeGreaterThan(0);
    expect((stats.operations - before.operations) / batches).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('a lease that runs out is expired and the next waiter granted with the next token, as the machine says at now + 1200 ms', async () => {
    const lock = new LockPair();
    const a = (await lock.enqueue(randomUUID(), { leaseSeconds: 1 })).ticket!;
    const b = (await lock.enqueue(randomUUID())).ticket!;
    const t0 = a.leaseStart!.getTime();
    lock.apply({ type: 'enqueue', now: t0, ticketId: a.id, leaseSeconds: 1 });
    lock.apply({ type: 'enqueue', now: b.createdAt.getTime(), ticketId: b.id, leaseSeconds: LONG_LEASE });
    await sleep(1200);

    // Reading the waiter settles the lock (the lease timer would have, had the service queued it).
    const sqlB = await repo.settleTicket(b.id, lock.repository, lock.resource);
    const m = lock.apply({ type: 'tick', now: t0 + 1200 });
    expect(m.effects.map((e) => [e.type, e.ticketId])).toEqual([
      ['ended', a.id],
      ['granted', b.id],
    ]);
    expect(sqlB.ended.map((t) => [t.id, t.releaseReason])).toEqual([[a.id, 'expired']]);
    expect(sqlB.granted.map((t) => t.id)).toEqual([b.id]);
    expect(pick(sqlB.ticket!)).toEqual({ status: 'acquired', queuePosition: 0, fencingToken: a.fencingToken! + 1, releaseReason: null });
    expect(lock.machine.holder!.fencingToken).toBe(sqlB.ticket!.fencingToken);
    // Both start the new lease when they settle: after the old lease ended, and LONG_LEASE long.
    const start = sqlB.ticket!.leaseStart!.getTime();
    expect(start).toBeGreaterThanOrEqual(a.leaseExpiresAt!.getTime());
    expect(Math.abs(start - lock.machine.holder!.leaseStart)).toBeLessThan(1000);
    expect(sqlB.ticket!.leaseExpiresAt!.getTime() - start).toBe(lock.machine.holder!.leaseExpiresAt - lock.machine.holder!.leaseStart);
    await lock.expectSameLock();
  });
});

describe('lock queue: where SQL and the pure machine once disagreed (SQL bugs the model found, fixed by migration; kept as regressions)', () => {
  it('clear settles first: a holder whose lease already ran out is recorded as expired, not cleared', async () => {
    const lock = new LockPair();
    const a = (await lock.enqueue(randomUUID(), { leaseSeconds: 1 })).ticket!;
    const b = (await lock.enqueue(randomUUID())).ticket!;
    const t0 = a.leaseStart!.getTime();
    lock.apply({ type: 'enqueue', now: t0, ticketId: a.id, leaseSeconds: 1 });
    lock.apply({ type: 'enqueue', now: b.createdAt.getTime(), ticketId: b.id, leaseSeconds: LONG_LEASE });
    await sleep(1200);

    const sql = await repo.clearLock(lock.repository, lock.resource, actor);
    const m = lock.apply({ type: 'clear', now: t0 + 1200 });
    // Machine: A's lease ended at t0 + 1 s (expired), which granted B (token 2) before the clear ended it.
    expect(m.effects.map((e) => [e.type, e.ticketId, e.type === 'ended' ? e.reason : null])).toEqual([
      ['ended', a.id, 'expired'],
      ['granted', b.id, null],
      ['ended', b.id, 'cleared'],
    ]);
    expect(sql.ended.map((t) => [t.id, t.releaseReason])).toEqual([
      [a.id, 'expired'],
      [b.id, 'cleared'],
    ]);
  });

  it('status settles when an earlier waiter’s wait limit has passed, so the queue position is current', async () => {
    const lock = new LockPair();
    const h = (await lock.enqueue(randomUUID())).ticket!;
    const a = (await lock.enqueue(randomUUID(), { waitSeconds: 1 })).ticket!;
    const b = (await lock.enqueue(randomUUID())).ticket!;
    lock.apply({ type: 'enqueue', now: h.leaseStart!.getTime(), ticketId: h.id, leaseSeconds: LONG_LEASE });
    lock.apply({ type: 'enqueue', now: a.createdAt.getTime(), ticketId: a.id, leaseSeconds: LONG_LEASE, waitDeadline: a.waitDeadline!.getTime() });
    lock.apply({ type: 'enqueue', now: b.createdAt.getTime(), ticketId: b.id, leaseSeconds: LONG_LEASE });
    await sleep(1200);

    const sqlB = await repo.settleTicket(b.id, lock.repository, lock.resource);
    lock.apply({ type: 'tick', now: a.createdAt.getTime() + 1200 });
    // Machine: A gave up its place at its wait limit, so B is next.
    expect(queuePosition(lock.machine, b.id)).toBe(1);
    expect(sqlB.ticket!.queuePosition).toBe(1);
  });
});
