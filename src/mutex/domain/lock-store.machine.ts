import type { ReleaseReason, TicketMetadata, TicketSource, TicketStatus } from './ticket';

/**
 * The lock rules as a pure state machine: (state, operation, now) → (new state, answer, effects).
 *
 * It models the whole lock store, every lock and ticket, and answers exactly as the SQL
 * functions of src/mutex/sql do, rule for rule: InMemoryLockStore runs it behind the LockStore
 * port, and test/lock-store.contract.ts holds it and PostgreSQL to the same scenarios. No
 * framework, no I/O, no clock: every operation takes `now` (epoch ms), and a state is never
 * changed in place (an operation copies what it changes).
 *
 * The rules, in the order a lock is settled at `now`:
 *   1. waiters past their wait limit leave the queue ('timed_out');
 *   2. a holder past its lease is released ('expired');
 *   3. a free lock is granted to the earliest waiter (fence + 1, a lease from now).
 * An operation settles the lock it touches first when something on it is due; locks nobody
 * touches are settled by timers and the sweep (`settleTicket`, `sweep`).
 */

export type Millis = number;

export interface LockRow {
  readonly id: number;
  readonly repository: string;
  readonly resource: string;
  /** The latest grant's fencing token. */
  readonly fence: number;
  readonly holderId: string | null;
  /**
   * The queue has moved past this point of the global order: every ticket of this lock queued up
   * to it has been granted or has left (set by a grant to the grantee's seq, by a clear to all).
   */
  readonly passedSeq: number;
  readonly updatedAt: Millis;
}

export interface TicketRow {
  readonly id: string;
  readonly lockId: number;
  /** The global queue order. */
  readonly seq: number;
  readonly status: TicketStatus;
  readonly requesterId: string;
  readonly requesterName: string;
  readonly owner: string | null;
  readonly source: TicketSource;
  readonly reason: string | null;
  readonly metadata: TicketMetadata | null;
  readonly leaseDurationSeconds: number;
  readonly waitDeadline: Millis | null;
  readonly idempotencyKey: string | null;
  readonly leaseStart: Millis | null;
  readonly leaseExpiresAt: Millis | null;
  readonly fencingToken: number | null;
  readonly renewedAt: Millis | null;
  readonly releaseReason: ReleaseReason | null;
  readonly releasedAt: Millis | null;
  readonly releasedBy: string | null;
  readonly createdAt: Millis;
  readonly updatedAt: Millis;
}

export interface StoreState {
  readonly locks: Readonly<Record<number, LockRow>>;
  readonly tickets: Readonly<Record<string, TicketRow>>;
  readonly lastLockId: number;
  readonly lastSeq: number;
}

export const emptyStore: StoreState = Object.freeze({ locks: Object.freeze({}), tickets: Object.freeze({}), lastLockId: 0, lastSeq: 0 });

export type AuditType = 'queued' | 'granted' | 'renewed' | ReleaseReason;

/** One row of the audit trail (lock_events), in the order the SQL writes them. */
export interface AuditEffect {
  readonly type: AuditType;
  readonly lockId: number;
  readonly ticketId: string;
  readonly actorId: string | null;
  readonly actorName: string | null;
  readonly fencingToken: number | null;
  readonly reason: string | null;
  readonly at: Millis;
}

/** A ticket as an answer shows it: its row, its lock's names, its queue position. */
export interface TicketView extends TicketRow {
  readonly repository: string;
  readonly resource: string;
  /** 0 for the holder, 1 for the next waiter, null once released. */
  readonly queuePosition: number | null;
}

/** The result of one operation: the new state, the answer, and what else changed. */
export interface Step<A> {
  readonly state: StoreState;
  readonly answer: A;
  /** Tickets granted by settling (not the ticket an operation queued and granted at once). */
  readonly granted: TicketView[];
  readonly ended: TicketView[];
  readonly audit: AuditEffect[];
}

export interface Actor {
  readonly id: string;
  readonly name: string;
}

export interface QueueRequest {
  readonly repository: string;
  readonly resource: string;
  readonly ticketId: string;
  readonly requesterId: string;
  readonly requesterName: string;
  readonly owner: string | null;
  readonly source: TicketSource;
  readonly reason: string | null;
  readonly metadata: TicketMetadata | null;
  readonly leaseSeconds: number;
  readonly waitSeconds: number | null;
  readonly idempotencyKey: string | null;
  /** Try-lock: only on a free lock nobody waits for; never leaves a ticket. */
  readonly tryOnly: boolean;
}

const SYSTEM = 'system';

/**
 * One operation's working copy: reads see its own writes, writes copy the row first, and
 * `done` returns the new state with the answer and the effects. The state it started from is
 * never touched.
 */
class Draft {
  private readonly locks: Record<number, LockRow>;
  private readonly tickets: Record<string, TicketRow>;
  private lastLockId: number;
  private lastSeq: number;
  private changed = false;
  readonly granted: TicketView[] = [];
  readonly ended: TicketView[] = [];
  readonly audit: AuditEffect[] = [];

  constructor(
    private readonly base: StoreState,
    readonly now: Millis,
  ) {
    this.locks = { ...base.locks };
    this.tickets = { ...base.tickets };
    this.lastLockId = base.lastLockId;
    this.lastSeq = base.lastSeq;
  }

  lock(id: number): LockRow {
    return this.locks[id];
  }

  lockNamed(repository: string, resource: string): LockRow | undefined {
    return Object.values(this.locks).find((l) => l.repository === repository && l.resource === resource);
  }

  ticket(id: string): TicketRow | undefined {
    return this.tickets[id];
  }

  allTickets(): TicketRow[] {
    return Object.values(this.tickets);
  }

  /** Waiting tickets of a lock, in queue order. */
  waiters(lockId: number): TicketRow[] {
    return this.allTickets()
      .filter((t) => t.lockId === lockId && t.status === 'queued')
      .sort((a, b) => a.seq - b.seq);
  }

  createLock(repository: string, resource: string): LockRow {
    const lock: LockRow = { id: ++this.lastLockId, repository, resource, fence: 0, holderId: null, passedSeq: 0, updatedAt: this.now };
    this.putLock(lock);
    return lock;
  }

  putLock(lock: LockRow): void {
    this.locks[lock.id] = lock;
    this.changed = true;
  }

  updateLock(id: number, patch: Partial<LockRow>): LockRow {
    const lock = { ...this.locks[id], ...patch, updatedAt: this.now };
    this.putLock(lock);
    return lock;
  }

  nextSeq(): number {
    return ++this.lastSeq;
  }

  get seq(): number {
    return this.lastSeq;
  }

  putTicket(t: TicketRow): TicketRow {
    this.tickets[t.id] = t;
    this.changed = true;
    return t;
  }

  updateTicket(id: string, patch: Partial<TicketRow>): TicketRow {
    return this.putTicket({ ...this.tickets[id], ...patch, updatedAt: this.now });
  }

  deleteTicket(id: string): void {
    delete this.tickets[id];
    this.changed = true;
  }

  record(type: AuditType, t: TicketRow, actorId: string | null, actorName: string | null, reason: string | null): void {
    // A 'queued' event carries no token: the ticket had none yet, even when granted at once.
    this.audit.push({ type, lockId: t.lockId, ticketId: t.id, actorId, actorName, fencingToken: type === 'queued' ? null : t.fencingToken, reason, at: this.now });
  }

  view(t: TicketRow): TicketView {
    const lock = this.locks[t.lockId];
    return { ...t, repository: lock.repository, resource: lock.resource, queuePosition: this.queuePosition(t) };
  }

  /** 0 for the holder, 1 + the waiters ahead of it on its lock while it waits, null once released. */
  queuePosition(t: TicketRow): number | null {
    if (t.status === 'acquired') return 0;
    if (t.status === 'released') return null;
    return this.waiters(t.lockId).filter((w) => w.seq < t.seq).length + 1;
  }

  done<A>(answer: A): Step<A> {
    const state: StoreState = this.changed ? { locks: this.locks, tickets: this.tickets, lastLockId: this.lastLockId, lastSeq: this.lastSeq } : this.base;
    return { state, answer, granted: this.granted, ended: this.ended, audit: this.audit };
  }
}

// ---------------------------------------------------------------------------------------------
// The rules: what is due, and settling.

/** Is anything on this lock due at now: a holder past its lease, a free lock with waiters, a waiter past its wait limit? */
function lockDue(d: Draft, lock: LockRow): boolean {
  const holder = lock.holderId ? d.ticket(lock.holderId) : undefined;
  const waiters = d.waiters(lock.id);
  return (
    (holder !== undefined && holder.leaseExpiresAt! <= d.now) ||
    (holder === undefined && waiters.length > 0) ||
    waiters.some((w) => w.waitDeadline !== null && w.waitDeadline <= d.now)
  );
}

/** Ends the holder's ticket and frees its lock. */
function endHolder(d: Draft, lock: LockRow, reason: ReleaseReason, actorId: string | null, actorName: string, auditReason: string | null): TicketRow {
  const t = d.updateTicket(lock.holderId!, { status: 'released', releaseReason: reason, releasedAt: d.now, releasedBy: actorName });
  d.updateLock(lock.id, { holderId: null });
  d.record(reason, t, actorId, actorName, auditReason);
  return t;
}

/** Brings a lock up to date at now: timeouts, then expiry, then the grant of the head. */
function settle(d: Draft, lockId: number): void {
  const timedOut = d.waiters(lockId).filter((w) => w.waitDeadline !== null && w.waitDeadline <= d.now);
  for (const w of timedOut) {
    const t = d.updateTicket(w.id, { status: 'released', releaseReason: 'timed_out', releasedAt: d.now, releasedBy: SYSTEM });
    d.ended.push(d.view(t));
    d.record('timed_out', t, null, SYSTEM, 'waited longer than its wait limit');
  }
  if (timedOut.length > 0) d.updateLock(lockId, {});

  const lock = d.lock(lockId);
  const holder = lock.holderId ? d.ticket(lock.holderId)! : undefined;
  if (holder && holder.leaseExpiresAt! <= d.now) {
    d.ended.push(d.view(endHolder(d, lock, 'expired', null, SYSTEM, 'lease ended')));
  }

  const [head] = d.waiters(lockId);
  if (!d.lock(lockId).holderId && head) {
    const fencingToken = d.lock(lockId).fence + 1;
    const t = d.updateTicket(head.id, {
      status: 'acquired',
      leaseStart: d.now,
      leaseExpiresAt: d.now + head.leaseDurationSeconds * 1000,
      fencingToken,
    });
    d.updateLock(lockId, { fence: fencingToken, holderId: t.id, passedSeq: t.seq });
    d.granted.push(d.view(t));
    d.record('granted', t, t.requesterId, t.requesterName, t.reason);
  }
}

function settleIfDue(d: Draft, lockId: number): void {
  if (lockDue(d, d.lock(lockId))) settle(d, lockId);
}

/** A ticket found under a lock's path, or undefined. */
function ticketUnder(d: Draft, ticketId: string, repository: string | null, resource: string | null): TicketRow | undefined {
  const t = d.ticket(ticketId);
  if (!t) return undefined;
  const lock = d.lock(t.lockId);
  if ((repository !== null && lock.repository !== repository) || (resource !== null && lock.resource !== resource)) return undefined;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Operations, one per SQL entry point.

export type QueueAnswer = { outcome: 'ok' | 'replayed'; ticket: TicketView } | { outcome: 'busy' | 'idempotency_mismatch' };

/** mutex_queue_ticket */
export function queueTicket(state: StoreState, req: QueueRequest, now: Millis): Step<QueueAnswer> {
  const d = new Draft(state, now);
  const lock = d.lockNamed(req.repository, req.resource) ?? d.createLock(req.repository, req.resource);

  if (req.idempotencyKey !== null) {
    const first = d.allTickets().find((t) => t.requesterId === req.requesterId && t.idempotencyKey === req.idempotencyKey);
    if (first) {
      if (first.lockId !== lock.id) return d.done({ outcome: 'idempotency_mismatch' });
      settleIfDue(d, lock.id);
      return d.done({ outcome: 'replayed', ticket: d.view(d.ticket(first.id)!) });
    }
  }
  settleIfDue(d, lock.id);
  const free = d.lock(lock.id).holderId === null && d.waiters(lock.id).length === 0;
  if (req.tryOnly && !free) return d.done({ outcome: 'busy' });
  if (d.ticket(req.ticketId)) throw new Error(`ticket ${req.ticketId} exists already`); // a primary-key violation in SQL

  const fence = d.lock(lock.id).fence;
  const t = d.putTicket({
    id: req.ticketId,
    lockId: lock.id,
    seq: d.nextSeq(),
    status: free ? 'acquired' : 'queued',
    requesterId: req.requesterId,
    requesterName: req.requesterName,
    owner: req.owner,
    source: req.source,
    reason: req.reason,
    metadata: req.metadata,
    leaseDurationSeconds: req.leaseSeconds,
    // A wait limit never applies to a ticket that did not wait.
    waitDeadline: !free && req.waitSeconds !== null ? now + req.waitSeconds * 1000 : null,
    idempotencyKey: req.idempotencyKey,
    leaseStart: free ? now : null,
    leaseExpiresAt: free ? now + req.leaseSeconds * 1000 : null,
    fencingToken: free ? fence + 1 : null,
    renewedAt: null,
    releaseReason: null,
    releasedAt: null,
    releasedBy: null,
    createdAt: now,
    updatedAt: now,
  });
  d.updateLock(lock.id, free ? { fence: fence + 1, holderId: t.id, passedSeq: t.seq } : {});
  d.record('queued', t, req.requesterId, req.requesterName, req.reason);
  if (free) d.record('granted', t, req.requesterId, req.requesterName, req.reason);
  return d.done({ outcome: 'ok', ticket: d.view(t) });
}

export type SettleTicketAnswer = { outcome: 'ok'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_settle_ticket: a status read, a long-poll, a lease or wait-limit timer. */
export function settleTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, now: Millis): Step<SettleTicketAnswer> {
  const d = new Draft(state, now);
  const t = ticketUnder(d, ticketId, repository, resource);
  if (!t) return d.done({ outcome: 'not_found' });
  if (t.status !== 'released') settleIfDue(d, t.lockId);
  return d.done({ outcome: 'ok', ticket: d.view(d.ticket(ticketId)!) });
}

export type ReleaseAnswer = { outcome: 'ok' | 'ended'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_release_ticket: a holder frees the lock (the head is granted), a waiter leaves ('cancelled'). */
export function releaseTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, actor: Actor, now: Millis): Step<ReleaseAnswer> {
  const d = new Draft(state, now);
  const found = ticketUnder(d, ticketId, repository, resource);
  if (!found) return d.done({ outcome: 'not_found' });
  settleIfDue(d, found.lockId);
  let t = d.ticket(ticketId)!;
  if (t.status === 'released') return d.done({ outcome: 'ended', ticket: d.view(t) });
  if (t.status === 'acquired') {
    t = endHolder(d, d.lock(t.lockId), 'released', actor.id, actor.name, null);
  } else {
    t = d.updateTicket(t.id, { status: 'released', releaseReason: 'cancelled', releasedAt: now, releasedBy: actor.name });
    d.updateLock(t.lockId, {});
    d.record('cancelled', t, actor.id, actor.name, null);
  }
  if (d.waiters(t.lockId).length > 0) settle(d, t.lockId);
  return d.done({ outcome: 'ok', ticket: d.view(t) });
}

export type RenewAnswer = { outcome: 'ok' | 'not_holder'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_renew_ticket: the holder's lease runs `leaseSeconds` (or its current length) from now. */
export function renewTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, leaseSeconds: number | null, actor: Actor, now: Millis): Step<RenewAnswer> {
  const d = new Draft(state, now);
  const found = ticketUnder(d, ticketId, repository, resource);
  if (!found) return d.done({ outcome: 'not_found' });
  settleIfDue(d, found.lockId);
  const t = d.ticket(ticketId)!;
  if (t.status !== 'acquired') return d.done({ outcome: 'not_holder', ticket: d.view(t) });
  const length = leaseSeconds ?? t.leaseDurationSeconds;
  const renewed = d.updateTicket(t.id, { leaseDurationSeconds: length, leaseExpiresAt: now + length * 1000, renewedAt: now });
  d.updateLock(t.lockId, {});
  d.record('renewed', renewed, actor.id, actor.name, null);
  return d.done({ outcome: 'ok', ticket: d.view(renewed) });
}

/** mutex_clear_lock: the holder and every waiter end with 'cleared' (what had already run out is settled first). */
export function clearLock(state: StoreState, repository: string, resource: string, actor: Actor, now: Millis): Step<null> {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  if (!lock) return d.done(null);
  settle(d, lock.id);
  const live = d.allTickets()
    .filter((t) => t.lockId === lock.id && t.status !== 'released')
    .sort((a, b) => a.seq - b.seq);
  for (const l of live) {
    const t = d.updateTicket(l.id, { status: 'released', releaseReason: 'cleared', releasedAt: now, releasedBy: actor.name });
    d.record('cleared', t, actor.id, actor.name, 'force clear');
    d.ended.push(d.view(t));
  }
  d.updateLock(lock.id, { holderId: null, passedSeq: d.seq });
  return d.done(null);
}

/** Dapr's unlock statuses: 0 released, 1 nobody holds the lock, 2 held by another owner. */
export type UnlockStatus = 0 | 1 | 2;

/** mutex_release_owner: a Dapr unlock. */
export function releaseOwner(state: StoreState, repository: string, resource: string, owner: string, actor: Actor, now: Millis): Step<UnlockStatus> {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  if (!lock) return d.done(1);
  settle(d, lock.id);
  const holderId = d.lock(lock.id).holderId;
  if (!holderId) return d.done(1);
  if (d.ticket(holderId)!.owner !== owner) return d.done(2);
  d.ended.push(d.view(endHolder(d, d.lock(lock.id), 'released', actor.id, actor.name, null)));
  settle(d, lock.id);
  return d.done(0);
}

/** mutex_settle_lock: settles a lock by name when something on it is due. */
export function settleLock(state: StoreState, repository: string, resource: string, now: Millis): Step<'ok' | 'not_found'> {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  if (!lock) return d.done('not_found');
  settleIfDue(d, lock.id);
  return d.done('ok');
}

/** mutex_sweep: settles every lock with a lease or wait limit past now, earliest deadline first, at most `limit` of them. */
export function sweep(state: StoreState, limit: number, now: Millis): Step<null> {
  const d = new Draft(state, now);
  const earliest = new Map<number, Millis>();
  for (const t of d.allTickets()) {
    const at = t.status === 'acquired' ? t.leaseExpiresAt : t.status === 'queued' ? t.waitDeadline : null;
    if (at !== null && at <= now) earliest.set(t.lockId, Math.min(at, earliest.get(t.lockId) ?? at));
  }
  const due = [...earliest].sort(([lockA, atA], [lockB, atB]) => atA - atB || lockA - lockB).slice(0, limit);
  for (const [lockId] of due) settle(d, lockId);
  return d.done(null);
}

/** mutex_next_deadline_in: ms from now to the earliest lease end or wait limit (null: none). */
export function nextDeadlineIn(state: StoreState, now: Millis): number | null {
  let next: number | null = null;
  for (const t of Object.values(state.tickets)) {
    const at = t.status === 'acquired' ? t.leaseExpiresAt : t.status === 'queued' ? t.waitDeadline : null;
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next === null ? null : next - now;
}

// ---------------------------------------------------------------------------------------------
// Reads (they change nothing).

/** The holder, then the queue in order, then tickets released within the retention, newest first (the later queued first among equals). */
export function listLock(state: StoreState, repository: string, resource: string, retentionSeconds: number, limit: number, now: Millis): TicketView[] {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  if (!lock) return [];
  const rank = (t: TicketRow) => (t.status === 'acquired' ? 0 : t.status === 'queued' ? 1 : 2);
  return d
    .allTickets()
    .filter((t) => t.lockId === lock.id && (t.status !== 'released' || t.releasedAt! > now - retentionSeconds * 1000))
    .sort((a, b) => rank(a) - rank(b) || (rank(a) === 1 ? a.seq - b.seq : (b.releasedAt ?? 0) - (a.releasedAt ?? 0) || b.seq - a.seq))
    .slice(0, limit)
    .map((t) => d.view(t));
}

export interface LockSummaryView {
  readonly lock: LockRow;
  readonly queueLength: number;
  readonly holder: TicketView | null;
}

/** Every lock of a repository, by resource name, with its holder as last settled. */
export function locksIn(state: StoreState, repository: string, limit: number): LockSummaryView[] {
  const d = new Draft(state, 0);
  return Object.values(state.locks)
    .filter((l) => l.repository === repository)
    .sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0))
    .slice(0, limit)
    .map((lock) => ({ lock, queueLength: d.waiters(lock.id).length, holder: lock.holderId ? d.view(d.ticket(lock.holderId)!) : null }));
}

/**
 * Deletes released tickets past the retention window. A waiter that left is kept until the queue
 * has moved past it (the SQL counts it to place the waiters behind it).
 */
export function purgeReleased(state: StoreState, retentionSeconds: number, now: Millis): Step<number> {
  const d = new Draft(state, now);
  let purged = 0;
  for (const t of d.allTickets()) {
    if (t.status !== 'released' || t.releasedAt! >= now - retentionSeconds * 1000) continue;
    if (t.leaseStart === null && t.seq > d.lock(t.lockId).passedSeq) continue;
    d.deleteTicket(t.id);
    purged++;
  }
  return d.done(purged);
}
