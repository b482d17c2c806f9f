import fc from 'fast-check';
import {
  auditType,
  initialLockState,
  LockEffect,
  LockEvent,
  LockState,
  queuePosition,
  settle,
  step,
  ticketStatus,
} from './lock-queue.machine';

const T0 = 1_700_000_000_000;
const S = 1000;

/** Deep-freezes so any mutation of an input state throws in strict mode. */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) frozen(v);
  }
  return value;
}

/** Runs events in order from a state, freezing every state so mutation is caught. */
function run(events: LockEvent[], from: LockState = initialLockState): { state: LockState; effects: LockEffect[] } {
  let state = frozen(from);
  const effects: LockEffect[] = [];
  for (const e of events) {
    const t = step(state, e);
    state = frozen(t.state);
    effects.push(...t.effects);
  }
  return { state, effects };
}

const enq = (ticketId: string, now = T0, leaseSeconds = 60, extra: { waitDeadline?: number | null; owner?: string | null } = {}): LockEvent => ({
  type: 'enqueue',
  now,
  ticketId,
  leaseSeconds,
  ...extra,
});

/** Holder A (lease 60 s from T0), waiters B, C, D. */
const heldWithQueue = () => run([enq('A'), enq('B', T0 + 1), enq('C', T0 + 2), enq('D', T0 + 3)]).state;
const ids = (s: LockState) => ({ holder: s.holder?.ticketId ?? null, queue: s.queue.map((t) => t.ticketId) });
const audit = (effects: LockEffect[]) => effects.map((e) => `${auditType(e)}:${e.ticketId}`);

describe('lock queue machine', () => {
  describe('free lock', () => {
    it('enqueue grants at once with the next fencing token and a lease from now', () => {
      const t = step(initialLockState, enq('A', T0, 30));
      expect(t.outcome).toBe('ok');
      expect(t.state.holder).toEqual({ ticketId: 'A', leaseSeconds: 30, owner: null, fencingToken: 1, leaseStart: T0, leaseExpiresAt: T0 + 30 * S });
      expect(t.state.queue).toEqual([]);
      expect(t.state.fence).toBe(1);
      expect(t.effects).toEqual([
        { type: 'queued', ticketId: 'A', position: 0, at: T0 },
        { type: 'granted', ticketId: 'A', fencingToken: 1, leaseStart: T0, leaseExpiresAt: T0 + 30 * S, at: T0 },
      ]);
      expect(queuePosition(t.state, 'A')).toBe(0);
    });

    it('a wait limit does not apply to a ticket granted at once', () => {
      const { state, effects } = run([enq('A', T0, 60, { waitDeadline: T0 + 1 * S }), { type: 'tick', now: T0 + 10 * S }]);
      expect(state.holder?.ticketId).toBe('A');
      expect(audit(effects)).toEqual(['queued:A', 'granted:A']);
    });

    it('tryLock succeeds and records queued then granted, like an enqueue', () => {
      const t = step(initialLockState, { type: 'tryLock', now: T0, ticketId: 'A', leaseSeconds: 10, owner: 'o1' });
      expect(t.outcome).toBe('ok');
      expect(t.state.holder).toMatchObject({ ticketId: 'A', owner: 'o1', fencingToken: 1, leaseExpiresAt: T0 + 10 * S });
      expect(audit(t.effects)).toEqual(['queued:A', 'granted:A']);
    });

    it('release and renew of an unknown ticket answer not_found and change nothing', () => {
      for (const e of [{ type: 'release', now: T0, ticketId: 'X' }, { type: 'renew', now: T0, ticketId: 'X' }] as LockEvent[]) {
        const t = step(initialLockState, e);
        expect(t.outcome).toBe('not_found');
        expect(t.state).toBe(initialLockState);
        expect(t.effects).toEqual([]);
      }
    });

    it('clear, unlockOwner (1) and tick change nothing', () => {
      expect(step(initialLockState, { type: 'clear', now: T0 })).toEqual({ state: initialLockState, outcome: 'ok', effects: [] });
      expect(step(initialLockState, { type: 'unlockOwner', now: T0, owner: 'o' })).toEqual({ state: initialLockState, outcome: 1, effects: [] });
      const tick = step(initialLockState, { type: 'tick', now: T0 });
      expect(tick.state).toBe(initialLockState);
      expect(tick.effects).toEqual([]);
    });

    it('after a release the lock is free again and the fence keeps counting', () => {
      const { state } = run([enq('A'), { type: 'release', now: T0 + 1, ticketId: 'A' }, enq('B', T0 + 2)]);
      expect(state.holder).toMatchObject({ ticketId: 'B', fencingToken: 2 });
    });
  });

  describe('held lock', () => {
    const held = () => run([{ type: 'tryLock', now: T0, ticketId: 'A', leaseSeconds: 60, owner: 'o1' }]).state;

    it('enqueue queues behind the holder at positions 1, 2, …', () => {
      const { state, effects } = run([enq('B', T0 + 1), enq('C', T0 + 2)], held());
      expect(ids(state)).toEqual({ holder: 'A', queue: ['B', 'C'] });
      expect(effects).toEqual([
        { type: 'queued', ticketId: 'B', position: 1, at: T0 + 1 },
        { type: 'queued', ticketId: 'C', position: 2, at: T0 + 2 },
      ]);
      expect([queuePosition(state, 'A'), queuePosition(state, 'B'), queuePosition(state, 'C'), queuePosition(state, 'Z')]).toEqual([0, 1, 2, null]);
      expect(state.fence).toBe(1);
    });

    it('tryLock is busy and leaves no ticket behind', () => {
      const before = held();
      const t = step(before, { type: 'tryLock', now: T0 + 1, ticketId: 'B', leaseSeconds: 60, owner: 'o2' });
      expect(t.outcome).toBe('busy');
      expect(t.state).toBe(before);
      expect(t.effects).toEqual([]);
      expect(ticketStatus(t.state, 'B')).toBeNull();
      expect(step(t.state, { type: 'release', now: T0 + 2, ticketId: 'B' }).outcome).toBe('not_found');
    });

    it('release by the holder frees the lock', () => {
      const t = step(held(), { type: 'release', now: T0 + 5 * S, ticketId: 'A' });
      expect(t.outcome).toBe('ok');
      expect(t.state.holder).toBeNull();
      expect(t.state.ended.A).toEqual({ ticketId: 'A', reason: 'released', endedAt: T0 + 5 * S, fencingToken: 1 });
      expect(t.effects).toEqual([{ type: 'ended', ticketId: 'A', reason: 'released', fencingToken: 1, at: T0 + 5 * S }]);
    });

    it('renew extends the lease from now, keeping the length unless a new one is given', () => {
      const r1 = step(held(), { type: 'renew', now: T0 + 50 * S, ticketId: 'A' });
      expect(r1.outcome).toBe('ok');
      expect(r1.state.holder).toMatchObject({ leaseSeconds: 60, leaseStart: T0, leaseExpiresAt: T0 + 110 * S, fencingToken: 1 });
      expect(r1.effects).toEqual([{ type: 'renewed', ticketId: 'A', fencingToken: 1, leaseExpiresAt: T0 + 110 * S, at: T0 + 50 * S }]);
      const r2 = step(r1.state, { type: 'renew', now: T0 + 100 * S, ticketId: 'A', leaseSeconds: 5 });
      expect(r2.state.holder).toMatchObject({ leaseSeconds: 5, leaseExpiresAt: T0 + 105 * S });
      // The new length sticks for the next renew without one.
      const r3 = step(r2.state, { type: 'renew', now: T0 + 104 * S, ticketId: 'A' });
      expect(r3.state.holder?.leaseExpiresAt).toBe(T0 + 109 * S);
    });

    it('a renewed lease no longer expires at the old time', () => {
      const { state } = run([{ type: 'renew', now: T0 + 59 * S, ticketId: 'A' }, { type: 'tick', now: T0 + 60 * S }], held());
      expect(state.holder?.ticketId).toBe('A');
    });

    it('unlockOwner: 2 for another owner, 0 for the holder’s owner', () => {
      const other = step(held(), { type: 'unlockOwner', now: T0 + 1, owner: 'o2' });
      expect(other.outcome).toBe(2);
      expect(other.state.holder?.ticketId).toBe('A');
      const mine = step(held(), { type: 'unlockOwner', now: T0 + 1, owner: 'o1' });
      expect(mine.outcome).toBe(0);
      expect(mine.state.holder).toBeNull();
      expect(mine.effects).toEqual([{ type: 'ended', ticketId: 'A', reason: 'released', fencingToken: 1, at: T0 + 1 }]);
    });

    it('unlockOwner of a holder without owner (an sfp ticket) is 2', () => {
      expect(step(run([enq('A')]).state, { type: 'unlockOwner', now: T0, owner: 'o1' }).outcome).toBe(2);
    });

    it('an enqueue of a known ticket id is a duplicate and changes nothing', () => {
      const before = held();
      for (const e of [enq('A', T0 + 1), { type: 'tryLock', now: T0 + 1, ticketId: 'A', leaseSeconds: 1, owner: 'o1' } as LockEvent]) {
        const t = step(before, e);
        expect(t.outcome).toBe('duplicate');
        expect(t.state).toBe(before);
      }
    });
  });

  describe('held lock with a queue', () => {
    it('release by the holder grants the head at once with fence + 1 and a lease from now', () => {
      const t = step(heldWithQueue(), { type: 'release', now: T0 + 10 * S, ticketId: 'A' });
      expect(t.outcome).toBe('ok');
      expect(ids(t.state)).toEqual({ holder: 'B', queue: ['C', 'D'] });
      expect(t.state.holder).toMatchObject({ fencingToken: 2, leaseStart: T0 + 10 * S, leaseExpiresAt: T0 + 70 * S });
      expect(audit(t.effects)).toEqual(['released:A', 'granted:B']);
    });

    it('release of a waiter cancels it and the positions behind it move up', () => {
      const t = step(heldWithQueue(), { type: 'release', now: T0 + 10, ticketId: 'C' });
      expect(t.outcome).toBe('ok');
      expect(ids(t.state)).toEqual({ holder: 'A', queue: ['B', 'D'] });
      expect(queuePosition(t.state, 'D')).toBe(2);
      expect(t.effects).toEqual([{ type: 'ended', ticketId: 'C', reason: 'cancelled', fencingToken: null, at: T0 + 10 }]);
      expect(t.state.fence).toBe(1);
    });

    it('tryLock is busy even though the holder could release soon', () => {
      expect(step(heldWithQueue(), { type: 'tryLock', now: T0 + 10, ticketId: 'Z', leaseSeconds: 1, owner: 'o' }).outcome).toBe('busy');
    });

    it('tryLock is busy on a lock with waiters even right after the holder released', () => {
      // The head is granted in the same step as the release, so there is never a free lock with a queue.
      const { state } = run([{ type: 'release', now: T0 + 10, ticketId: 'A' }], heldWithQueue());
      expect(step(state, { type: 'tryLock', now: T0 + 10, ticketId: 'Z', leaseSeconds: 1, owner: 'o' }).outcome).toBe('busy');
    });

    it('renew by a waiter is not_holder and changes nothing', () => {
      const before = heldWithQueue();
      const t = step(before, { type: 'renew', now: T0 + 10, ticketId: 'B', leaseSeconds: 999 });
      expect(t.outcome).toBe('not_holder');
      expect(t.state).toBe(before);
      expect(t.effects).toEqual([]);
    });

    it('clear ends the holder and every waiter with cleared, in queue order, keeping the fence', () => {
      const t = step(heldWithQueue(), { type: 'clear', now: T0 + 10 });
      expect(t.outcome).toBe('ok');
      expect(ids(t.state)).toEqual({ holder: null, queue: [] });
      expect(t.effects).toEqual([
        { type: 'ended', ticketId: 'A', reason: 'cleared', fencingToken: 1, at: T0 + 10 },
        { type: 'ended', ticketId: 'B', reason: 'cleared', fencingToken: null, at: T0 + 10 },
        { type: 'ended', ticketId: 'C', reason: 'cleared', fencingToken: null, at: T0 + 10 },
        { type: 'ended', ticketId: 'D', reason: 'cleared', fencingToken: null, at: T0 + 10 },
      ]);
      const next = step(t.state, enq('E', T0 + 11));
      expect(next.state.holder).toMatchObject({ ticketId: 'E', fencingToken: 2 });
    });

    it('unlockOwner by the holder’s owner grants the head', () => {
      const { state } = run(
        [{ type: 'tryLock', now: T0, ticketId: 'A', leaseSeconds: 60, owner: 'o1' }, enq('B', T0 + 1), { type: 'unlockOwner', now: T0 + 2, owner: 'o1' }],
      );
      expect(state.holder).toMatchObject({ ticketId: 'B', fencingToken: 2, leaseStart: T0 + 2 });
    });

    it('unlockOwner naming only a waiter’s owner is 2 (the lock belongs to the holder)', () => {
      const s = run([enq('A'), enq('B', T0 + 1, 60, { owner: 'o2' })]).state;
      expect(step(s, { type: 'unlockOwner', now: T0 + 2, owner: 'o2' }).outcome).toBe(2);
    });
  });

  describe('expired holder', () => {
    it('expires exactly when now reaches leaseExpiresAt, not a millisecond before', () => {
      const s = run([enq('A', T0, 10)]).state;
      expect(step(s, { type: 'tick', now: T0 + 10 * S - 1 }).state).toBe(s);
      const t = step(s, { type: 'tick', now: T0 + 10 * S });
      expect(t.state.holder).toBeNull();
      expect(t.effects).toEqual([{ type: 'ended', ticketId: 'A', reason: 'expired', fencingToken: 1, at: T0 + 10 * S }]);
    });

    it('the expiry grants the head, whose lease starts at the settling moment', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1, 20)]).state;
      const t = step(s, { type: 'tick', now: T0 + 12 * S });
      expect(t.state.holder).toEqual({ ticketId: 'B', leaseSeconds: 20, owner: null, fencingToken: 2, leaseStart: T0 + 12 * S, leaseExpiresAt: T0 + 32 * S });
      expect(audit(t.effects)).toEqual(['expired:A', 'granted:B']);
    });

    it('every event settles first: an enqueue after the expiry queues behind the new holder', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1)]).state;
      const t = step(s, enq('C', T0 + 11 * S));
      expect(ids(t.state)).toEqual({ holder: 'B', queue: ['C'] });
      expect(audit(t.effects)).toEqual(['expired:A', 'granted:B', 'queued:C']);
      expect(t.effects[2]).toMatchObject({ position: 1 });
    });

    it('renew by an expired holder is not_holder, and the expiry still happens', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1)]).state;
      const t = step(s, { type: 'renew', now: T0 + 10 * S, ticketId: 'A' });
      expect(t.outcome).toBe('not_holder');
      expect(ids(t.state)).toEqual({ holder: 'B', queue: [] });
      expect(audit(t.effects)).toEqual(['expired:A', 'granted:B']);
    });

    it('release by an expired holder answers ended and does not touch the new holder', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1)]).state;
      const t = step(s, { type: 'release', now: T0 + 11 * S, ticketId: 'A' });
      expect(t.outcome).toBe('ended');
      expect(t.state.ended.A.reason).toBe('expired');
      expect(t.state.holder?.ticketId).toBe('B');
    });

    it('tryLock on a lock whose holder expired with nobody waiting succeeds', () => {
      const s = run([enq('A', T0, 10)]).state;
      const t = step(s, { type: 'tryLock', now: T0 + 10 * S, ticketId: 'B', leaseSeconds: 5, owner: 'o' });
      expect(t.outcome).toBe('ok');
      expect(t.state.holder).toMatchObject({ ticketId: 'B', fencingToken: 2 });
      expect(audit(t.effects)).toEqual(['expired:A', 'queued:B', 'granted:B']);
    });

    it('unlockOwner of an expired holder is 1 when nobody waits', () => {
      const s = run([{ type: 'tryLock', now: T0, ticketId: 'A', leaseSeconds: 10, owner: 'o1' }]).state;
      const t = step(s, { type: 'unlockOwner', now: T0 + 10 * S, owner: 'o1' });
      expect(t.outcome).toBe(1);
      expect(audit(t.effects)).toEqual(['expired:A']);
    });

    it('clear after a lease ran out records expired (and the grant it caused), not cleared', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1)]).state;
      const t = step(s, { type: 'clear', now: T0 + 11 * S });
      expect(audit(t.effects)).toEqual(['expired:A', 'granted:B', 'cleared:B']);
      expect(t.state.fence).toBe(2);
    });
  });

  describe('timed-out waiters', () => {
    // Holder A (60 s); waiters B (no limit), C (limit 5 s), D (no limit), E (limit 5 s).
    const withLimits = () =>
      run([
        enq('A'),
        enq('B', T0 + 1),
        enq('C', T0 + 2, 60, { waitDeadline: T0 + 5 * S }),
        enq('D', T0 + 3),
        enq('E', T0 + 4, 60, { waitDeadline: T0 + 5 * S }),
      ]).state;

    it('leave the middle of the queue at their limit; the others keep their order', () => {
      const s = withLimits();
      expect(step(s, { type: 'tick', now: T0 + 5 * S - 1 }).state).toBe(s);
      const t = step(s, { type: 'tick', now: T0 + 5 * S });
      expect(ids(t.state)).toEqual({ holder: 'A', queue: ['B', 'D'] });
      expect([queuePosition(t.state, 'B'), queuePosition(t.state, 'D'), queuePosition(t.state, 'C')]).toEqual([1, 2, null]);
      expect(t.effects).toEqual([
        { type: 'ended', ticketId: 'C', reason: 'timed_out', fencingToken: null, at: T0 + 5 * S },
        { type: 'ended', ticketId: 'E', reason: 'timed_out', fencingToken: null, at: T0 + 5 * S },
      ]);
    });

    it('a timed-out head is skipped: timeouts, then expiry, then the grant', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1, 60, { waitDeadline: T0 + 8 * S }), enq('C', T0 + 2)]).state;
      const t = step(s, { type: 'tick', now: T0 + 10 * S });
      expect(audit(t.effects)).toEqual(['timed_out:B', 'expired:A', 'granted:C']);
      expect(t.state.holder).toMatchObject({ ticketId: 'C', fencingToken: 2 });
    });

    it('a waiter whose limit and the holder’s lease end at the same moment times out rather than being granted', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1, 60, { waitDeadline: T0 + 10 * S })]).state;
      const t = step(s, { type: 'tick', now: T0 + 10 * S });
      expect(audit(t.effects)).toEqual(['timed_out:B', 'expired:A']);
      expect(ids(t.state)).toEqual({ holder: null, queue: [] });
    });

    it('a waiter granted before its limit keeps the lock past that limit', () => {
      const s = run([enq('A', T0, 10), enq('B', T0 + 1, 60, { waitDeadline: T0 + 20 * S })]).state;
      const { state } = run([{ type: 'tick', now: T0 + 10 * S }, { type: 'tick', now: T0 + 30 * S }], s);
      expect(state.holder?.ticketId).toBe('B');
    });

    it('release of a timed-out waiter answers ended with its reason', () => {
      const t = step(withLimits(), { type: 'release', now: T0 + 6 * S, ticketId: 'C' });
      expect(t.outcome).toBe('ended');
      expect(t.state.ended.C).toMatchObject({ reason: 'timed_out', endedAt: T0 + 6 * S });
    });
  });

  describe('release of an ended ticket', () => {
    it.each([
      ['released', [enq('A'), { type: 'release', now: T0 + 1, ticketId: 'A' }]],
      ['cancelled', [enq('H'), enq('A', T0 + 1), { type: 'release', now: T0 + 2, ticketId: 'A' }]],
      ['cleared', [enq('A'), { type: 'clear', now: T0 + 1 }]],
      ['expired', [enq('A', T0, 1), { type: 'tick', now: T0 + 1 * S }]],
      ['timed_out', [enq('H'), enq('A', T0 + 1, 60, { waitDeadline: T0 + 2 }), { type: 'tick', now: T0 + 2 }]],
    ] as [string, LockEvent[]][])('answers ended for a %s ticket and changes nothing', (reason, events) => {
      const before = run(events).state;
      for (const e of [{ type: 'release', now: T0 + 3 * S, ticketId: 'A' }, { type: 'renew', now: T0 + 3 * S, ticketId: 'A' }] as LockEvent[]) {
        const t = step(before, e);
        expect(t.outcome).toBe(e.type === 'release' ? 'ended' : 'not_holder');
        expect(t.state).toBe(before);
        expect(t.effects).toEqual([]);
      }
      expect(before.ended.A.reason).toBe(reason);
      expect(ticketStatus(before, 'A')).toBe('released');
    });
  });

  describe('purity', () => {
    it('never mutates its input and gives the same answer twice', () => {
      const s = frozen(heldWithQueue());
      const copy = JSON.parse(JSON.stringify(s));
      const events: LockEvent[] = [
        { type: 'release', now: T0 + 5, ticketId: 'A' },
        { type: 'clear', now: T0 + 5 },
        { type: 'tick', now: T0 + 100 * S },
        { type: 'renew', now: T0 + 5, ticketId: 'A' },
        enq('Z', T0 + 5),
      ];
      for (const e of events) expect(step(s, e)).toEqual(step(s, e));
      expect(s).toEqual(copy);
    });

    it('settle is a no-op (same object) when nothing is due', () => {
      const s = heldWithQueue();
      expect(settle(s, T0 + 10).state).toBe(s);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Property-based: random interleavings with random time advances.

type Op =
  | { kind: 'enqueue'; leaseSeconds: number; waitSeconds: number | null; owner: string | null }
  | { kind: 'tryLock'; leaseSeconds: number; owner: string }
  | { kind: 'release'; pick: number }
  | { kind: 'renew'; pick: number; leaseSeconds: number | null }
  | { kind: 'clear' }
  | { kind: 'unlockOwner'; owner: string }
  | { kind: 'tick' };

const owners = fc.constantFrom('o1', 'o2', 'o3');
const lease = fc.integer({ min: 1, max: 30 });
// Mostly no pause, sometimes a little, sometimes long enough for leases and wait limits to run out.
const advance = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 2_000 }) }, { weight: 2, arbitrary: fc.integer({ min: 2_000, max: 40_000 }) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('enqueue' as const), leaseSeconds: lease, waitSeconds: fc.option(fc.integer({ min: 0, max: 40 }), { freq: 2 }), owner: fc.option(owners) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tryLock' as const), leaseSeconds: lease, owner: owners }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renew' as const), pick: fc.nat(), leaseSeconds: fc.option(lease) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unlockOwner' as const), owner: owners }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
);
const historyArb = fc.array(fc.tuple(advance, opArb), { minLength: 1, maxLength: 60 });

/** Turns an op into an event; `pick` chooses among ids seen so far, or one nobody ever used. */
function toEvent(op: Op, now: number, seen: string[], nextId: () => string): LockEvent {
  const pick = (n: number) => (n % (seen.length + 1) === seen.length ? 'never-seen' : seen[n % (seen.length + 1)]);
  switch (op.kind) {
    case 'enqueue':
      return { type: 'enqueue', now, ticketId: nextId(), leaseSeconds: op.leaseSeconds, owner: op.owner, waitDeadline: op.waitSeconds === null ? null : now + op.waitSeconds * S };
    case 'tryLock':
      return { type: 'tryLock', now, ticketId: nextId(), leaseSeconds: op.leaseSeconds, owner: op.owner };
    case 'release':
      return { type: 'release', now, ticketId: pick(op.pick) };
    case 'renew':
      return { type: 'renew', now, ticketId: pick(op.pick), leaseSeconds: op.leaseSeconds };
    case 'clear':
      return { type: 'clear', now };
    case 'unlockOwner':
      return { type: 'unlockOwner', now, owner: op.owner };
    case 'tick':
      return { type: 'tick', now };
  }
}

/**
 * Rebuilds the lock from the effects alone, checking as it goes that they tell a consistent
 * story: one holder at a time, grants only to the earliest live waiter, grant intervals that
 * never overlap in time, strictly increasing fencing tokens.
 */
class EffectReplay {
  holder: { ticketId: string; fencingToken: number; leaseStart: number; leaseExpiresAt: number } | null = null;
  waiting: string[] = [];
  enqueueOrder: string[] = [];
  granted: string[] = [];
  private lastToken = 0;
  /** When the previous grant stopped protecting anything: its end, or its lease end if earlier. */
  private previousGrantEnd = -Infinity;

  apply(e: LockEffect): void {
    switch (e.type) {
      case 'queued':
        expect(this.enqueueOrder).not.toContain(e.ticketId);
        this.enqueueOrder.push(e.ticketId);
        this.waiting.push(e.ticketId);
        // 0 means granted at once (a grant follows); otherwise its place at the back.
        if (e.position !== 0) expect(e.position).toBe(this.waiting.length);
        break;
      case 'granted':
        expect(this.holder).toBeNull();
        // FIFO: the grant goes to the earliest waiter still waiting; nobody later jumps ahead.
        expect(this.waiting[0]).toBe(e.ticketId);
        expect(e.fencingToken).toBeGreaterThan(this.lastToken);
        expect(e.leaseStart).toBeGreaterThanOrEqual(this.previousGrantEnd);
        expect(e.leaseExpiresAt).toBeGreaterThan(e.leaseStart);
        this.lastToken = e.fencingToken;
        this.waiting.shift();
        this.granted.push(e.ticketId);
        this.holder = { ticketId: e.ticketId, fencingToken: e.fencingToken, leaseStart: e.leaseStart, leaseExpiresAt: e.leaseExpiresAt };
        break;
      case 'renewed':
        expect(this.holder?.ticketId).toBe(e.ticketId);
        expect(e.fencingToken).toBe(this.holder!.fencingToken);
        this.holder = { ...this.holder!, leaseExpiresAt: e.leaseExpiresAt };
        break;
      case 'ended':
        if (this.holder?.ticketId === e.ticketId) {
          expect(['released', 'expired', 'cleared']).toContain(e.reason);
          expect(e.fencingToken).toBe(this.holder.fencingToken);
          // An expiry is never early; any other end may come before the lease runs out.
          if (e.reason === 'expired') expect(e.at).toBeGreaterThanOrEqual(this.holder.leaseExpiresAt);
          this.previousGrantEnd = Math.min(e.at, this.holder.leaseExpiresAt);
          this.holder = null;
        } else {
          expect(this.waiting).toContain(e.ticketId);
          expect(['cancelled', 'cleared', 'timed_out']).toContain(e.reason);
          expect(e.fencingToken).toBeNull();
          this.waiting = this.waiting.filter((id) => id !== e.ticketId);
        }
        break;
    }
  }
}

function checkState(s: LockState): void {
  // Liveness: a free lock never keeps anybody waiting.
  if (!s.holder) expect(s.queue).toEqual([]);
  // Positions are 0 for the holder and 1..n, contiguous, for the queue.
  expect(s.queue.map((t) => queuePosition(s, t.ticketId))).toEqual(s.queue.map((_, i) => i + 1));
  if (s.holder) {
    expect(queuePosition(s, s.holder.ticketId)).toBe(0);
    expect(s.holder.fencingToken).toBe(s.fence);
  }
  const live = [s.holder?.ticketId, ...s.queue.map((t) => t.ticketId)].filter((id): id is string => !!id);
  expect(new Set(live).size).toBe(live.length);
  for (const id of live) expect(s.ended[id]).toBeUndefined();
}

describe('lock queue machine properties', () => {
  it('random interleavings keep every invariant, and the effects replay to the same lock', () => {
    fc.assert(
      fc.property(historyArb, (history) => {
        let state = initialLockState;
        let now = T0;
        let counter = 0;
        const seen: string[] = [];
        const replay = new EffectReplay();
        for (const [dt, op] of history) {
          now += dt;
          const event = toEvent(op, now, seen, () => `t${++counter}`);
          const before = state;
          const t = step(before, event);
          state = t.state;
          for (const e of t.effects) {
            expect(e.at).toBe(now);
            replay.apply(e);
          }

          if (event.type === 'enqueue' || event.type === 'tryLock') seen.push(event.ticketId);
          if (event.type === 'tryLock') {
            // A try-lock either holds the lock or leaves no trace at all.
            expect(ticketStatus(state, event.ticketId)).toBe(t.outcome === 'ok' ? 'acquired' : null);
            const holderGone = !before.holder || before.holder.leaseExpiresAt <= now;
            const nobodyWaits = before.queue.every((q) => q.waitDeadline !== null && q.waitDeadline <= now);
            expect(t.outcome).toBe(holderGone && nobodyWaits ? 'ok' : 'busy');
          }
          if (event.type === 'enqueue') expect(ticketStatus(state, event.ticketId)).not.toBeNull();
          if (t.outcome === 'not_found') expect(t.state).toBe(before);
          if (event.type === 'clear') expect(ids(state)).toEqual({ holder: null, queue: [] });

          checkState(state);
          // The effects are exactly the transitions: replaying them gives the same holder and queue.
          expect(replay.holder?.ticketId ?? null).toBe(state.holder?.ticketId ?? null);
          expect(replay.holder?.leaseExpiresAt).toBe(state.holder?.leaseExpiresAt);
          expect(replay.waiting).toEqual(state.queue.map((q) => q.ticketId));
        }
        // FIFO over the whole run: grants are a subsequence of the enqueue order.
        const order = replay.enqueueOrder.filter((id) => replay.granted.includes(id));
        expect(replay.granted).toEqual(order);
      }),
      { numRuns: 1000 },
    );
  });

  it('a lock keeps its holder until something ends it, and time alone never grants out of order', () => {
    // Pure time advances after any history: only expiries and timeouts may happen, and the
    // queue stays in order.
    fc.assert(
      fc.property(historyArb, fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 10 }), (history, pauses) => {
        let state = initialLockState;
        let now = T0;
        let counter = 0;
        const seen: string[] = [];
        for (const [dt, op] of history) {
          now += dt;
          const event = toEvent(op, now, seen, () => `t${++counter}`);
          if (event.type === 'enqueue' || event.type === 'tryLock') seen.push(event.ticketId);
          state = step(state, event).state;
        }
        for (const pause of pauses) {
          now += pause;
          const before = state;
          const t = step(before, { type: 'tick', now });
          state = t.state;
          const kinds = t.effects.map(auditType);
          expect(kinds.every((k) => ['timed_out', 'expired', 'granted'].includes(k))).toBe(true);
          if (before.holder && before.holder.leaseExpiresAt > now) expect(state.holder).toBe(before.holder);
          const survivors = before.queue.map((q) => q.ticketId).filter((id) => ticketStatus(state, id) !== 'released');
          expect([state.holder?.ticketId, ...state.queue.map((q) => q.ticketId)].filter((id) => survivors.includes(id!))).toEqual(survivors);
          checkState(state);
        }
      }),
      { numRuns: 500 },
    );
  });
});
