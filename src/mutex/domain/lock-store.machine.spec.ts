import fc from 'fast-check';
import * as m from './lock-store.machine';

/**
 * Properties of the pure lock-store machine over random histories (thousands of them; the
 * scenarios themselves live in test/lock-store.contract.e2e-spec.ts, run on this model and on
 * PostgreSQL alike).
 */

const T0 = Date.UTC(2030, 0, 1);
const S = 1000;
const actor = { id: 'actor', name: 'tester' };

/** A cheap assertion for the hot loops (jest's expect costs more than the machine itself). */
function check(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

/** Deep-freezes, so a machine that changed its input state would throw (modules are strict). */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) frozen(v);
  }
  return value;
}

type Op =
  | { kind: 'queue'; resource: string; lease: number; wait: number | null; owner: string | null; try: boolean }
  | { kind: 'release' | 'status' | 'renew'; pick: number }
  | { kind: 'clear' | 'settle'; resource: string }
  | { kind: 'unlock'; resource: string; owner: string }
  | { kind: 'sweep' };

const resources = fc.constantFrom('a', 'b', 'c');
const owners = fc.constantFrom('o1', 'o2');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('queue' as const),
      resource: resources,
      lease: fc.integer({ min: 1, max: 30 }),
      wait: fc.option(fc.integer({ min: 1, max: 40 }), { freq: 2 }),
      owner: fc.option(owners),
      try: fc.constantFrom(false, false, true),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constantFrom('release' as const, 'status' as const, 'renew' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('clear' as const, 'settle' as const), resource: resources }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlock' as const), resource: resources, owner: owners }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);
const advance = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 2_000, max: 40_000 }) },
);
const historyArb = fc.array(fc.tuple(advance, opArb), { minLength: 1, maxLength: 80, size: 'max' });

/** Runs one op; returns the step and the lock it names (null for a sweep). */
function apply(state: m.StoreState, op: Op, now: number, sent: string[], n: number): { step: m.Step<unknown>; resource: string | null; ticketId?: string } {
  const pick = (i: number) => (i % (sent.length + 1) === sent.length ? 'never-sent' : sent[i % (sent.length + 1)]);
  const resourceOf = (id: string) => {
    const t = state.tickets[id];
    return t ? state.locks[t.lockId].resource : 'a';
  };
  switch (op.kind) {
    case 'queue': {
      const ticketId = `t${n}`;
      const req: m.QueueRequest = {
        repository: 'r',
        resource: op.resource,
        ticketId,
        requesterId: 'u',
        requesterName: 'pipeline',
        owner: op.try ? (op.owner ?? 'o1') : op.owner,
        source: op.try ? 'dapr' : 'sfp',
        reason: null,
        metadata: null,
        leaseSeconds: op.lease,
        waitSeconds: op.wait,
        idempotencyKey: null,
        tryOnly: op.try,
      };
      return { step: m.queueTicket(state, req, now), resource: op.resource, ticketId };
    }
    case 'release':
      return { step: m.releaseTicket(state, pick(op.pick), 'r', resourceOf(pick(op.pick)), actor, now), resource: resourceOf(pick(op.pick)) };
    case 'status':
      return { step: m.settleTicket(state, pick(op.pick), 'r', resourceOf(pick(op.pick)), now), resource: resourceOf(pick(op.pick)) };
    case 'renew':
      return { step: m.renewTicket(state, pick(op.pick), 'r', resourceOf(pick(op.pick)), null, actor, now), resource: resourceOf(pick(op.pick)) };
    case 'clear':
      return { step: m.clearLock(state, 'r', op.resource, actor, now), resource: op.resource };
    case 'settle':
      return { step: m.settleLock(state, 'r', op.resource, now), resource: op.resource };
    case 'unlock':
      return { step: m.releaseOwner(state, 'r', op.resource, op.owner, actor, now), resource: op.resource };
    case 'sweep':
      return { step: m.sweep(state, 1000, now), resource: null };
  }
}

/**
 * Rebuilds each lock from the audit trail alone, checking that it tells a consistent story: one
 * holder at a time, grants only to the earliest live waiter (FIFO), strictly increasing tokens.
 */
class AuditReplay {
  readonly locks = new Map<number, { holder: string | null; waiting: string[]; lastToken: number; granted: string[] }>();

  apply(e: m.AuditEffect): void {
    if (!this.locks.has(e.lockId)) this.locks.set(e.lockId, { holder: null, waiting: [], lastToken: 0, granted: [] });
    const l = this.locks.get(e.lockId)!;
    const what = () => `${e.type} ${e.ticketId} on lock ${e.lockId}: ${JSON.stringify(l)}`;
    switch (e.type) {
      case 'queued':
        check(!l.waiting.includes(e.ticketId) && e.fencingToken === null, what);
        l.waiting.push(e.ticketId);
        break;
      case 'granted':
        check(l.holder === null && l.waiting[0] === e.ticketId && e.fencingToken! > l.lastToken, what);
        l.lastToken = e.fencingToken!;
        l.waiting.shift();
        l.holder = e.ticketId;
        l.granted.push(e.ticketId);
        break;
      case 'renewed':
        check(l.holder === e.ticketId, what);
        break;
      default:
        if (l.holder === e.ticketId) {
          check(['released', 'expired', 'cleared'].includes(e.type) && e.fencingToken === l.lastToken, what);
          l.holder = null;
        } else {
          check(['cancelled', 'cleared', 'timed_out'].includes(e.type) && l.waiting.includes(e.ticketId), what);
          l.waiting = l.waiting.filter((id) => id !== e.ticketId);
        }
    }
  }
}

function checkState(s: m.StoreState, replay: AuditReplay): void {
  const tickets = Object.values(s.tickets);
  for (const lock of Object.values(s.locks)) {
    const mine = tickets.filter((t) => t.lockId === lock.id);
    const holders = mine.filter((t) => t.status === 'acquired');
    const waiters = mine.filter((t) => t.status === 'queued').sort((a, b) => a.seq - b.seq);
    const r = replay.locks.get(lock.id) ?? { holder: null, waiting: [] };
    const what = () => `lock ${lock.id}: ${JSON.stringify({ lock, holders, waiters, replay: r })}`;
    // One holder at most, and it is the one the lock names, with the lock's latest token.
    check(holders.length === (lock.holderId ? 1 : 0) && (!lock.holderId || (holders[0].id === lock.holderId && holders[0].fencingToken === lock.fence)), what);
    // The audit trail tells the same story.
    check(r.holder === lock.holderId && r.waiting.join() === waiters.map((t) => t.id).join(), what);
  }
}

describe('lock store machine properties', () => {
  it('random histories keep one holder per lock, FIFO grants, increasing tokens, and an audit trail that replays to the state', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        let state = frozen(m.emptyStore);
        let now = T0;
        const sent: string[] = [];
        const replay = new AuditReplay();
        history.forEach(([dt, op], n) => {
          now += dt;
          const before = state;
          const { step, resource, ticketId } = apply(before, op, now, sent, n);
          state = frozen(step.state);
          for (const e of step.audit) {
            check(e.at === now, () => `audit row at ${e.at}, not now`);
            replay.apply(e);
          }
          if (ticketId) sent.push(ticketId);
          if (op.kind === 'queue' && op.try) {
            // A try-lock holds the lock or leaves no trace at all.
            const answer = step.answer as m.QueueAnswer;
            check(state.tickets[ticketId!]?.status === (answer.outcome === 'ok' ? 'acquired' : undefined), () => `try-lock ${ticketId} left a trace`);
          }
          // The lock an operation touched is settled: free only when nobody waits for it.
          const lock = resource === null ? undefined : Object.values(state.locks).find((l) => l.resource === resource);
          if (lock && !lock.holderId && op.kind !== 'release' && op.kind !== 'status' && op.kind !== 'renew') {
            check(!Object.values(state.tickets).some((t) => t.lockId === lock.id && t.status === 'queued'), () => `lock ${resource} is free with waiters`);
          }
          checkState(state, replay);
        });
        // FIFO over the whole run, per lock: grants in queue order.
        for (const l of replay.locks.values()) {
          const seqs = l.granted.map((id) => state.tickets[id].seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('time alone only expires, times out and grants in order', () => {
    fc.assert(
      fc.property(historyArb, fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 8 }), (history, pauses) => {
        let state = frozen(m.emptyStore);
        let now = T0;
        const sent: string[] = [];
        history.forEach(([dt, op], n) => {
          now += dt;
          const { step, ticketId } = apply(state, op, now, sent, n);
          state = frozen(step.state);
          if (ticketId) sent.push(ticketId);
        });
        for (const p of pauses) {
          now += p;
          const before = state;
          const step = m.sweep(before, 1000, now);
          state = frozen(step.state);
          expect(step.audit.every((e) => ['timed_out', 'expired', 'granted'].includes(e.type))).toBe(true);
          for (const lock of Object.values(before.locks)) {
            const holder = lock.holderId ? before.tickets[lock.holderId] : undefined;
            // A holder whose lease still runs keeps the lock.
            if (holder && holder.leaseExpiresAt! > now) expect(state.locks[lock.id].holderId).toBe(holder.id);
          }
          // Whoever is granted was the earliest of its lock's waiters still waiting.
          for (const g of step.granted) {
            const earlier = Object.values(state.tickets).filter((t) => t.lockId === g.lockId && t.status === 'queued' && t.seq < g.seq);
            expect(earlier).toEqual([]);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('answers the same twice from the same state, and leaves that state alone', () => {
    fc.assert(
      fc.property(historyArb, opArb, (history, op) => {
        let state = frozen(m.emptyStore);
        let now = T0;
        const sent: string[] = [];
        history.forEach(([dt, o], n) => {
          now += dt;
          const { step, ticketId } = apply(state, o, now, sent, n);
          state = frozen(step.state);
          if (ticketId) sent.push(ticketId);
        });
        const copy = JSON.stringify(state);
        const a = apply(state, op, now + 1, sent, 999).step;
        const b = apply(state, op, now + 1, sent, 999).step;
        expect(b).toEqual(a);
        expect(JSON.stringify(state)).toBe(copy);
      }),
      { numRuns: 300 },
    );
  });
});
