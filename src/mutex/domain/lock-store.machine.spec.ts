import fc from 'fast-check';
import * as m from './lock-store.machine';

/**
 * Properties of the pure lock-store machine over random histories of single, set and pool
 * tickets, releases, renewals, clears, pool changes, lease ends and wait limits (the scenarios
 * themselves live in test/lock-store.contract.e2e-spec.ts, run on this model and on PostgreSQL
 * alike).
 */

const T0 = Date.UTC(2030, 0, 1);
const actor = { id: 'actor', name: 'tester' };
const REPO = 'r';

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
  | { kind: 'queue'; resources: string[]; lease: number; wait: number | null; owner: string | null; try: boolean }
  | { kind: 'pool'; count: number; lease: number; wait: number | null }
  | { kind: 'release' | 'status' | 'renew'; pick: number }
  | { kind: 'clear' | 'settle'; resource: string }
  | { kind: 'unlock'; resource: string; owner: string }
  | { kind: 'definePool'; members: string[] }
  | { kind: 'deletePool' }
  | { kind: 'sweep' };

const NAMES = ['a', 'b', 'c', 'd'];
const resource = fc.constantFrom(...NAMES);
const owners = fc.constantFrom('o1', 'o2');
const lease = fc.integer({ min: 1, max: 30 });
const wait = fc.option(fc.integer({ min: 1, max: 40 }), { freq: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('queue' as const),
      resources: fc.oneof({ weight: 3, arbitrary: resource.map((r) => [r]) }, { weight: 2, arbitrary: fc.uniqueArray(resource, { minLength: 2, maxLength: 3 }) }),
      lease,
      wait,
      owner: fc.option(owners),
      try: fc.constantFrom(false, false, true),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pool' as const), count: fc.integer({ min: 1, max: 2 }), lease, wait }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constantFrom('release' as const, 'status' as const, 'renew' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('clear' as const, 'settle' as const), resource: fc.constantFrom(...NAMES, 'pool') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlock' as const), resource, owner: owners }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('definePool' as const), members: fc.uniqueArray(fc.constantFrom('b', 'c', 'd', 'e'), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('deletePool' as const, 'sweep' as const) }) },
);
const advance = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 2_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 2_000, max: 40_000 }) },
);
const historyArb = fc.array(fc.tuple(advance, opArb), { minLength: 1, maxLength: 80, size: 'max' });

function request(ticketId: string, fields: Partial<m.QueueRequest>): m.QueueRequest {
  return {
    repository: REPO,
    resources: [],
    pool: null,
    ticketId,
    requesterId: 'u',
    requesterName: 'pipeline',
    owner: null,
    source: 'sfp',
    reason: null,
    metadata: null,
    leaseSeconds: 10,
    waitSeconds: null,
    idempotencyKey: null,
    tryOnly: false,
    ...fields,
  };
}

/** Runs one op; picks among the tickets sent so far (or one nobody sent), under the path of one of its resources. */
function apply(state: m.StoreState, op: Op, now: number, sent: string[], n: number): { step: m.Step<unknown>; ticketId?: string } {
  const pick = (i: number) => (i % (sent.length + 1) === sent.length ? 'never-sent' : sent[i % (sent.length + 1)]);
  const pathOf = (id: string): string => {
    const t = state.tickets[id];
    const pool = t?.poolId ? state.pools[t.poolId] : undefined;
    if (pool && t.status === 'queued') return pool.name;
    const locks = t?.locks?.map((x) => x.lockId) ?? (t?.lockId ? [t.lockId] : []);
    return locks.length > 0 ? state.locks[locks[n % locks.length]].resource : 'a';
  };
  switch (op.kind) {
    case 'queue': {
      const ticketId = `t${n}`;
      const req = request(ticketId, {
        resources: op.resources,
        owner: op.try ? (op.owner ?? 'o1') : op.owner,
        source: op.try ? 'dapr' : 'sfp',
        leaseSeconds: op.lease,
        waitSeconds: op.wait,
        tryOnly: op.try,
      });
      return { step: m.queueTicket(state, req, now), ticketId };
    }
    case 'pool': {
      const ticketId = `t${n}`;
      return { step: m.queueTicket(state, request(ticketId, { pool: { name: 'pool', count: op.count }, leaseSeconds: op.lease, waitSeconds: op.wait }), now), ticketId };
    }
    case 'release':
      return { step: m.releaseTicket(state, pick(op.pick), REPO, pathOf(pick(op.pick)), actor, now) };
    case 'status':
      return { step: m.settleTicket(state, pick(op.pick), REPO, pathOf(pick(op.pick)), now) };
    case 'renew':
      return { step: m.renewTicket(state, pick(op.pick), REPO, pathOf(pick(op.pick)), null, actor, now) };
    case 'clear':
      return { step: m.clearLock(state, REPO, op.resource, actor, now) };
    case 'settle':
      return { step: m.settleLock(state, REPO, op.resource, now) };
    case 'unlock':
      return { step: m.releaseOwner(state, REPO, op.resource, op.owner, actor, now) };
    case 'definePool':
      return { step: m.putPool(state, REPO, 'pool', op.members, null, actor, now) };
    case 'deletePool':
      return { step: m.deletePool(state, REPO, 'pool', actor, now) };
    case 'sweep':
      return { step: m.sweep(state, 1000, now) };
  }
}

/** What a waiting ticket can use: its resources, or its pool's members. */
function usable(s: m.StoreState, t: m.TicketRow): number[] {
  if (t.status === 'queued' && t.poolId !== null) return [...s.pools[t.poolId].members];
  return t.locks ? t.locks.map((x) => x.lockId) : [t.lockId!];
}

/** The invariants of one state, and of the step that led to it. */
function checkStep(before: m.StoreState, step: m.Step<unknown>, fences: Map<number, number>): void {
  const s = step.state;
  const tickets = Object.values(s.tickets);
  const holders = new Map<number, string>();
  for (const t of tickets.filter((x) => x.status === 'acquired')) {
    // A holder holds every lock of its set and nothing less; one holder per lock.
    for (const id of t.locks ? t.locks.map((x) => x.lockId) : [t.lockId!]) {
      check(!holders.has(id), () => `lock ${id} has two holders: ${holders.get(id)} and ${t.id}`);
      holders.set(id, t.id);
      check(s.locks[id].holderId === t.id, () => `${t.id} holds ${id}, but the lock names ${s.locks[id].holderId}`);
    }
    if (t.poolId === null) check((t.locks?.length ?? 1) === t.lockCount, () => `${t.id} holds part of its set`);
  }
  for (const l of Object.values(s.locks)) {
    check(l.holderId === null || holders.get(l.id) === l.holderId, () => `lock ${l.id} names a holder that does not hold it`);
    // Fencing tokens only grow.
    check(l.fence >= (fences.get(l.id) ?? 0), () => `lock ${l.id}'s fence went back`);
    fences.set(l.id, l.fence);
  }
  // Nobody is granted a lock that an earlier waiter, still waiting, could have used.
  const granted = tickets.filter((t) => t.status === 'acquired' && before.tickets[t.id]?.status !== 'acquired');
  for (const g of granted) {
    const got = g.locks ? g.locks.map((x) => x.lockId) : [g.lockId!];
    // A step that redefines a pool first settles what is due under the members it had (the leases
    // that ended before it), then grants under the new ones: a waiting pool ticket could use a
    // lock in both phases only if the lock is a member before and after.
    const couldUse = (w: m.TicketRow) => usable(s, w).filter((id) => w.poolId === null || !before.pools[w.poolId] || before.pools[w.poolId].members.includes(id));
    const blocker = tickets.find((w) => w.status === 'queued' && w.seq < g.seq && couldUse(w).some((id) => got.includes(id)));
    check(!blocker, () => `${g.id} was granted ${got} while ${blocker?.id}, queued earlier, waits for one of them`);
  }
  // No waiter could be granted now on a lock the step settled: no idle lock with grantable waiters.
  for (const w of tickets.filter((t) => t.status === 'queued' && t.poolId === null)) {
    const mine = usable(s, w);
    const free = mine.every((id) => s.locks[id].holderId === null);
    const claimed = tickets.some((e) => e.status === 'queued' && e.seq < w.seq && usable(s, e).some((id) => mine.includes(id)));
    const touched = step.audit.some((a) => a.lockId !== null && mine.includes(a.lockId));
    check(!(free && !claimed && touched), () => `${w.id} could be granted ${mine} after a step that touched them`);
  }
}

/**
 * The lease of the set [a, c] has ended, unsettled, when the pool is redefined from [b, c] to
 * [b, d]. What ended before the redefinition is settled under the old members, so the set [a, d],
 * queued later, gets d while a pool ticket waiting for two members does not: d was no member then.
 */
const REDEFINED_POOL_HISTORY: [number, Op][] = [
  [1, { kind: 'queue', resources: ['a'], lease: 1, wait: null, owner: null, try: false }],
  [1, { kind: 'queue', resources: ['a'], lease: 1, wait: null, owner: null, try: false }],
  [0, { kind: 'queue', resources: ['a', 'c'], lease: 1, wait: null, owner: null, try: false }],
  [1, { kind: 'definePool', members: ['b', 'c'] }],
  [1, { kind: 'release', pick: 0 }],
  [1, { kind: 'pool', count: 1, lease: 3, wait: null }],
  [0, { kind: 'pool', count: 2, lease: 1, wait: null }],
  [539, { kind: 'queue', resources: ['c'], lease: 1, wait: null, owner: null, try: false }],
  [460, { kind: 'queue', resources: ['a', 'd'], lease: 1, wait: null, owner: null, try: false }],
  [2000, { kind: 'status', pick: 0 }],
  [0, { kind: 'definePool', members: ['b', 'd'] }],
  [1, { kind: 'pool', count: 1, lease: 1, wait: null }],
];

describe('lock store machine properties', () => {
  it('random histories of single, set and pool tickets: one holder per lock, whole sets only, nobody served before an earlier waiter that could use it, tokens only grow', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        let state = frozen(m.emptyStore);
        let now = T0;
        const sent: string[] = [];
        const fences = new Map<number, number>();
        history.forEach(([dt, op], n) => {
          now += dt;
          const before = state;
          const { step, ticketId } = apply(before, op, now, sent, n);
          state = frozen(step.state);
          for (const e of step.audit) check(e.at === now, () => `audit row at ${e.at}, not now`);
          if (ticketId) sent.push(ticketId);
          if (op.kind === 'queue' && op.try) {
            // A try-lock holds the lock or leaves no trace at all.
            const answer = step.answer as m.QueueAnswer;
            check(state.tickets[ticketId!]?.status === (answer.outcome === 'ok' ? 'acquired' : undefined), () => `try-lock ${ticketId} left a trace`);
          }
          checkStep(before, step, fences);
        });
      }),
      { numRuns: 600, examples: [[REDEFINED_POOL_HISTORY]] },
    );
  });

  it('nothing deadlocks and nobody starves: with time, every ticket is granted or ends', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        let state = frozen(m.emptyStore);
        let now = T0;
        const sent: string[] = [];
        history.forEach(([dt, op], n) => {
          now += dt;
          const { step, ticketId } = apply(state, op, now, sent, n);
          state = frozen(step.state);
          if (ticketId) sent.push(ticketId);
        });
        // Leases last at most 30 s: time alone must drain every queue.
        const everWaiting = new Set(Object.values(state.tickets).filter((t) => t.status === 'queued').map((t) => t.id));
        const grantedLater = new Set<string>();
        for (let i = 0; i < 200 && Object.values(state.tickets).some((t) => t.status === 'queued'); i++) {
          now += 31_000;
          const step = m.sweep(state, 1000, now);
          state = frozen(step.state);
          for (const g of step.granted) grantedLater.add(g.id);
        }
        const stuck = Object.values(state.tickets).filter((t) => t.status === 'queued');
        check(stuck.length === 0, () => `still waiting after time passed: ${stuck.map((t) => t.id)}`);
        for (const id of everWaiting) {
          const t = state.tickets[id];
          check(grantedLater.has(id) || t.releaseReason === 'timed_out', () => `${id} never got its turn (${t.releaseReason})`);
        }
      }),
      { numRuns: 300 },
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
      { numRuns: 200 },
    );
  });
});
