import type { ReleaseReason } from './ticket';

/**
 * The queue of ONE lock as a pure state machine: (state, event) → (new state, outcome, effects).
 *
 * It mirrors the PL/pgSQL functions of migrations/1763800000100-mutex.ts rule for rule
 * (test/lock-queue-model.e2e-spec.ts runs both side by side). No framework, no I/O, no clock:
 * every event carries `now` (epoch ms), and states are never mutated.
 */

export interface QueuedTicket {
  readonly ticketId: string;
  readonly leaseSeconds: number;
  readonly owner: string | null;
  /** Epoch ms at which the ticket gives up its place; null waits for ever. */
  readonly waitDeadline: number | null;
}

export interface HeldTicket {
  readonly ticketId: string;
  /** Lease length used by the grant and by a renew that names none. */
  readonly leaseSeconds: number;
  readonly owner: string | null;
  readonly fencingToken: number;
  readonly leaseStart: number;
  readonly leaseExpiresAt: number;
}

export interface EndedTicket {
  readonly ticketId: string;
  readonly reason: ReleaseReason;
  readonly endedAt: number;
  /** The grant's token if it ever held the lock. */
  readonly fencingToken: number | null;
}

export interface LockState {
  /** Token of the latest grant; the next grant gets fence + 1. */
  readonly fence: number;
  readonly holder: HeldTicket | null;
  /** Waiters in queue order (FIFO). */
  readonly queue: readonly QueuedTicket[];
  /** Tickets that have ended: a late release must answer 'ended', not 'not_found'. */
  readonly ended: Readonly<Record<string, EndedTicket>>;
}

export const initialLockState: LockState = Object.freeze({ fence: 0, holder: null, queue: Object.freeze([]), ended: Object.freeze({}) });

export type LockEvent =
  | { type: 'enqueue'; now: number; ticketId: string; leaseSeconds: number; waitDeadline?: number | null; owner?: string | null }
  | { type: 'tryLock'; now: number; ticketId: string; leaseSeconds: number; owner: string }
  | { type: 'release'; now: number; ticketId: string }
  | { type: 'renew'; now: number; ticketId: string; leaseSeconds?: number | null }
  | { type: 'clear'; now: number }
  | { type: 'unlockOwner'; now: number; owner: string }
  | { type: 'tick'; now: number };

/** Dapr's unlock statuses: 0 released, 1 nobody holds the lock, 2 held by another owner. */
export type UnlockStatus = 0 | 1 | 2;

export interface OutcomeByEvent {
  /** 'duplicate': the ticket id is already known; nothing changes (the SQL insert would fail and roll back). */
  enqueue: 'ok' | 'duplicate';
  tryLock: 'ok' | 'busy' | 'duplicate';
  release: 'ok' | 'ended' | 'not_found';
  renew: 'ok' | 'not_holder' | 'not_found';
  clear: 'ok';
  unlockOwner: UnlockStatus;
  tick: 'ok';
}

/** One transition as written to the audit table (lock_events), in the same order. */
export type LockEffect =
  /** position: the place it took, 0 when it was granted at once (a 'granted' effect follows). */
  | { type: 'queued'; ticketId: string; position: number; at: number }
  | { type: 'granted'; ticketId: string; fencingToken: number; leaseStart: number; leaseExpiresAt: number; at: number }
  | { type: 'renewed'; ticketId: string; fencingToken: number; leaseExpiresAt: number; at: number }
  | { type: 'ended'; ticketId: string; reason: ReleaseReason; fencingToken: number | null; at: number };

export interface Transition<O> {
  state: LockState;
  outcome: O;
  effects: LockEffect[];
}

/** The lock_events.type an effect is recorded as. */
export function auditType(effect: LockEffect): 'queued' | 'granted' | 'renewed' | ReleaseReason {
  return effect.type === 'ended' ? effect.reason : effect.type;
}

/** 0 for the holder, 1 for the next waiter, null if the ticket is not live on this lock. */
export function queuePosition(state: LockState, ticketId: string): number | null {
  if (state.holder?.ticketId === ticketId) return 0;
  const i = state.queue.findIndex((t) => t.ticketId === ticketId);
  return i < 0 ? null : i + 1;
}

/** The ticket's status as the tickets table would show it; null if this lock never saw it. */
export function ticketStatus(state: LockState, ticketId: string): 'acquired' | 'queued' | 'released' | null {
  if (state.holder?.ticketId === ticketId) return 'acquired';
  if (state.queue.some((t) => t.ticketId === ticketId)) return 'queued';
  return state.ended[ticketId] ? 'released' : null;
}

function known(state: LockState, ticketId: string): boolean {
  return ticketStatus(state, ticketId) !== null;
}

function withEnded(ended: LockState['ended'], add: EndedTicket[]): LockState['ended'] {
  if (add.length === 0) return ended;
  const next = { ...ended };
  for (const e of add) next[e.ticketId] = e;
  return next;
}

function grant(state: LockState, t: QueuedTicket, now: number, effects: LockEffect[]): LockState {
  const holder: HeldTicket = {
    ticketId: t.ticketId,
    leaseSeconds: t.leaseSeconds,
    owner: t.owner,
    fencingToken: state.fence + 1,
    leaseStart: now,
    leaseExpiresAt: now + t.leaseSeconds * 1000,
  };
  effects.push({ type: 'granted', ticketId: t.ticketId, fencingToken: holder.fencingToken, leaseStart: now, leaseExpiresAt: holder.leaseExpiresAt, at: now });
  return { ...state, fence: holder.fencingToken, holder };
}

function endHolder(state: LockState, reason: ReleaseReason, now: number, effects: LockEffect[]): LockState {
  const h = state.holder!;
  effects.push({ type: 'ended', ticketId: h.ticketId, reason, fencingToken: h.fencingToken, at: now });
  return { ...state, holder: null, ended: withEnded(state.ended, [{ ticketId: h.ticketId, reason, endedAt: now, fencingToken: h.fencingToken }]) };
}

/**
 * Brings the lock up to date at `now`, exactly like mutex_settle: waiters past their wait limit
 * leave ('timed_out'), then a holder past its lease ends ('expired'), then a free lock goes to
 * the head of the queue. Returns the same state object when nothing was due.
 */
export function settle(state: LockState, now: number): { state: LockState; effects: LockEffect[] } {
  const effects: LockEffect[] = [];
  let s = state;
  const timedOut = s.queue.filter((t) => t.waitDeadline !== null && t.waitDeadline <= now);
  if (timedOut.length > 0) {
    for (const t of timedOut) effects.push({ type: 'ended', ticketId: t.ticketId, reason: 'timed_out', fencingToken: null, at: now });
    s = {
      ...s,
      queue: s.queue.filter((t) => !timedOut.includes(t)),
      ended: withEnded(s.ended, timedOut.map((t) => ({ ticketId: t.ticketId, reason: 'timed_out' as const, endedAt: now, fencingToken: null }))),
    };
  }
  if (s.holder && s.holder.leaseExpiresAt <= now) s = endHolder(s, 'expired', now, effects);
  if (!s.holder && s.queue.length > 0) s = grant({ ...s, queue: s.queue.slice(1) }, s.queue[0], now, effects);
  return { state: s, effects };
}

const unchanged = <O>(state: LockState, outcome: O): Transition<O> => ({ state, outcome, effects: [] });

/** Applies one event at event.now. */
export function step<E extends LockEvent>(state: LockState, event: E): Transition<OutcomeByEvent[E['type']]>;
export function step(state: LockState, event: LockEvent): Transition<OutcomeByEvent[LockEvent['type']]> {
  const now = event.now;
  switch (event.type) {
    case 'enqueue':
    case 'tryLock': {
      if (known(state, event.ticketId)) return unchanged(state, 'duplicate');
      const settled = settle(state, now);
      const effects = settled.effects;
      let s = settled.state;
      const free = !s.holder && s.queue.length === 0;
      if (event.type === 'tryLock' && !free) return { state: s, outcome: 'busy', effects };
      const owner = event.owner ?? null;
      if (free) {
        // Granted at once; a wait limit never applies to a ticket that did not wait.
        effects.push({ type: 'queued', ticketId: event.ticketId, position: 0, at: now });
        s = grant(s, { ticketId: event.ticketId, leaseSeconds: event.leaseSeconds, owner, waitDeadline: null }, now, effects);
        return { state: s, outcome: 'ok', effects };
      }
      const waitDeadline = event.type === 'enqueue' ? (event.waitDeadline ?? null) : null;
      s = { ...s, queue: [...s.queue, { ticketId: event.ticketId, leaseSeconds: event.leaseSeconds, owner, waitDeadline }] };
      effects.push({ type: 'queued', ticketId: event.ticketId, position: s.queue.length, at: now });
      return { state: s, outcome: 'ok', effects };
    }

    case 'release': {
      // SQL: a ticket not on this lock never touches it, so nothing settles either.
      if (!known(state, event.ticketId)) return unchanged(state, 'not_found');
      const settled = settle(state, now);
      const effects = settled.effects;
      let s = settled.state;
      if (s.ended[event.ticketId]) return { state: s, outcome: 'ended', effects };
      if (s.holder?.ticketId === event.ticketId) {
        s = endHolder(s, 'released', now, effects);
      } else {
        effects.push({ type: 'ended', ticketId: event.ticketId, reason: 'cancelled', fencingToken: null, at: now });
        s = {
          ...s,
          queue: s.queue.filter((t) => t.ticketId !== event.ticketId),
          ended: withEnded(s.ended, [{ ticketId: event.ticketId, reason: 'cancelled', endedAt: now, fencingToken: null }]),
        };
      }
      const after = settle(s, now);
      return { state: after.state, outcome: 'ok', effects: [...effects, ...after.effects] };
    }

    case 'renew': {
      if (!known(state, event.ticketId)) return unchanged(state, 'not_found');
      const settled = settle(state, now);
      const s = settled.state;
      const h = s.holder;
      if (h?.ticketId !== event.ticketId) return { state: s, outcome: 'not_holder', effects: settled.effects };
      const leaseSeconds = event.leaseSeconds ?? h.leaseSeconds;
      const holder: HeldTicket = { ...h, leaseSeconds, leaseExpiresAt: now + leaseSeconds * 1000 };
      return {
        state: { ...s, holder },
        outcome: 'ok',
        effects: [...settled.effects, { type: 'renewed', ticketId: h.ticketId, fencingToken: h.fencingToken, leaseExpiresAt: holder.leaseExpiresAt, at: now }],
      };
    }

    case 'clear': {
      // Settle first, so a lease or wait limit that already ran out is recorded as such, not as
      // 'cleared'. mutex_clear does not yet (see the 'SQL BUG' tests in test/lock-queue-model.e2e-spec.ts).
      const settled = settle(state, now);
      const effects = settled.effects;
      let s = settled.state;
      if (s.holder) s = endHolder(s, 'cleared', now, effects);
      for (const t of s.queue) effects.push({ type: 'ended', ticketId: t.ticketId, reason: 'cleared', fencingToken: null, at: now });
      s = {
        ...s,
        queue: [],
        ended: withEnded(s.ended, s.queue.map((t) => ({ ticketId: t.ticketId, reason: 'cleared' as const, endedAt: now, fencingToken: null }))),
      };
      return { state: s, outcome: 'ok', effects };
    }

    case 'unlockOwner': {
      const settled = settle(state, now);
      const effects = settled.effects;
      const s = settled.state;
      if (!s.holder) return { state: s, outcome: 1, effects };
      if (s.holder.owner !== event.owner) return { state: s, outcome: 2, effects };
      const after = settle(endHolder(s, 'released', now, effects), now);
      return { state: after.state, outcome: 0, effects: [...effects, ...after.effects] };
    }

    case 'tick': {
      const settled = settle(state, now);
      return { state: settled.state, outcome: 'ok', effects: settled.effects };
    }
  }
}
