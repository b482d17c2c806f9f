import { coupledDue, coupledLockIds, endTicket, grant, grantWaiters, locksNamed, pickMembers, releaseCoupled, settleCoupled } from './coupled-locks';
import { Actor, Draft, LockRow, Millis, PoolRow, Step, StoreState, TicketRow, TicketView } from './store-state';
import type { ReleaseReason, TicketMetadata, TicketSource } from './ticket';

export * from './store-state';

/**
 * The lock rules as a pure state machine: (state, operation, now) → (new state, answer, effects).
 *
 * It models the whole lock store, every lock, ticket and pool, and answers exactly as the SQL
 * functions of src/mutex/sql do, rule for rule: InMemoryLockStore runs it behind the LockStore
 * port, and test/lock-store.contract.e2e-spec.ts holds it and PostgreSQL to the same scenarios.
 * No framework, no I/O, no clock: every operation takes `now` (epoch ms), and a state is never
 * changed in place (an operation copies what it changes).
 *
 * The rules, in the order a lock is settled at `now`:
 *   1. waiters past their wait limit leave the queue ('timed_out');
 *   2. a holder past its lease is released ('expired');
 *   3. a free lock is granted to the earliest waiter (fence + 1, a lease from now).
 * An operation settles the lock it touches first when something on it is due; locks nobody
 * touches are settled by timers and the sweep (`settleTicket`, `sweep`). Locks that sets and
 * pools tie together ("coupled") are settled with the others of their repository, by one global
 * order (coupled-locks.ts); this file holds the entry points and the rules of a lock alone.
 */

export interface QueueRequest {
  readonly repository: string;
  /** Resources by name, all granted at once (one, or a set); none for a pool ticket. */
  readonly resources: readonly string[];
  /** Or `count` free members of this pool. */
  readonly pool: { readonly name: string; readonly count: number } | null;
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

// ---------------------------------------------------------------------------------------------
// The rules of a lock alone (20-settle.sql).

/** Is anything on this lock due at now: a holder past its lease, a free lock with waiters, a waiter past its wait limit? */
function lockDue(d: Draft, lock: LockRow): boolean {
  const holder = lock.holderId ? d.ticket(lock.holderId) : undefined;
  const waiters = d.namedWaiters(lock.id);
  return (
    (holder !== undefined && holder.leaseExpiresAt! <= d.now) ||
    (holder === undefined && waiters.length > 0) ||
    waiters.some((w) => w.waitDeadline !== null && w.waitDeadline <= d.now)
  );
}

/** Ends the holder's ticket and frees its lock. */
function endHolder(d: Draft, lock: LockRow, reason: ReleaseReason, actorId: string | null, actorName: string, auditReason: string | null): TicketRow {
  const t = d.updateTicket(lock.holderId!, { status: 'released', releaseReason: reason, releasedAt: d.now, releasedBy: actorName });
  d.updateLock(lock.id, { holderId: null, freedAt: d.now });
  d.record(reason, t, actorId, actorName, auditReason);
  return t;
}

/** Brings a lock up to date at now: timeouts, then expiry, then the grant of the head. */
function settle(d: Draft, lockId: number): void {
  const timedOut = d.namedWaiters(lockId).filter((w) => w.waitDeadline !== null && w.waitDeadline <= d.now);
  for (const w of timedOut) {
    const t = d.updateTicket(w.id, { status: 'released', releaseReason: 'timed_out', releasedAt: d.now, releasedBy: SYSTEM });
    d.ended.push(d.view(t));
    d.record('timed_out', t, null, SYSTEM, 'waited longer than its wait limit');
  }
  if (timedOut.length > 0) d.updateLock(lockId, {});

  const lock = d.lock(lockId)!;
  const holder = lock.holderId ? d.ticket(lock.holderId)! : undefined;
  if (holder && holder.leaseExpiresAt! <= d.now) {
    d.ended.push(d.view(endHolder(d, lock, 'expired', null, SYSTEM, 'lease ended')));
  }

  const [head] = d.namedWaiters(lockId);
  if (!d.lock(lockId)!.holderId && head) {
    const fencingToken = d.lock(lockId)!.fence + 1;
    const t = d.updateTicket(head.id, { status: 'acquired', leaseStart: d.now, leaseExpiresAt: d.now + head.leaseDurationSeconds * 1000, fencingToken });
    d.updateLock(lockId, { fence: fencingToken, holderId: t.id, passedSeq: t.seq });
    d.granted.push(d.view(t));
    d.record('granted', t, t.requesterId, t.requesterName, t.reason);
  }
}

function settleIfDue(d: Draft, lockId: number): void {
  if (lockDue(d, d.lock(lockId)!)) settle(d, lockId);
}

/** Folds a coupled settle's changes into the operation's. */
function settleRepository(d: Draft, repository: string, also: number[] = []): number[] {
  const s = settleCoupled(d, repository, also);
  d.granted.push(...s.granted);
  d.ended.push(...s.ended);
  return s.claimed;
}

/** The ticket's first lock, when it is the one the path names (the only one the SQL takes a row lock on first). */
function ownLockUnder(d: Draft, t: TicketRow | undefined, repository: string | null, resource: string | null): LockRow | undefined {
  const lock = d.lock(t?.lockId ?? null);
  if (!lock || (repository !== null && lock.repository !== repository) || (resource !== null && lock.resource !== resource)) return undefined;
  return lock;
}

// ---------------------------------------------------------------------------------------------
// Operations, one per SQL entry point.

export type QueueAnswer =
  | { outcome: 'ok' | 'replayed'; ticket: TicketView }
  | { outcome: 'busy' | 'idempotency_mismatch' | 'no_such_pool' }
  | { outcome: 'pool_name'; name: string }
  | { outcome: 'count_too_large'; size: number };

/** mutex_queue_ticket (one resource) and mutex_queue_many (a set, a pool). */
export function queueTicket(state: StoreState, req: QueueRequest, now: Millis): Step<QueueAnswer> {
  const d = new Draft(state, now);
  const lock = req.resources.length === 1 && !req.pool ? d.lockNamed(req.repository, req.resources[0]) : undefined;
  if (!lock || lock.coupled > 0) return d.done(queueSet(d, req));

  if (req.idempotencyKey !== null) {
    const first = d.allTickets().find((t) => t.requesterId === req.requesterId && t.idempotencyKey === req.idempotencyKey);
    if (first) {
      if (first.lockId !== lock.id || d.isSet(first)) return d.done({ outcome: 'idempotency_mismatch' });
      settleIfDue(d, lock.id);
      return d.done({ outcome: 'replayed', ticket: d.view(d.ticket(first.id)!) });
    }
  }
  settleIfDue(d, lock.id);
  const free = d.lock(lock.id)!.holderId === null && d.namedWaiters(lock.id).length === 0;
  if (req.tryOnly && !free) return d.done({ outcome: 'busy' });
  if (d.ticket(req.ticketId)) throw new Error(`ticket ${req.ticketId} exists already`); // a primary-key violation in SQL

  const fence = d.lock(lock.id)!.fence;
  const t = d.putTicket({
    ...newTicket(d, req, lock.id, free ? null : req.waitSeconds),
    status: free ? 'acquired' : 'queued',
    leaseStart: free ? now : null,
    leaseExpiresAt: free ? now + req.leaseSeconds * 1000 : null,
    fencingToken: free ? fence + 1 : null,
  });
  d.updateLock(lock.id, free ? { fence: fence + 1, holderId: t.id, passedSeq: t.seq } : {});
  d.record('queued', t, req.requesterId, req.requesterName, req.reason);
  if (free) d.record('granted', t, req.requesterId, req.requesterName, req.reason);
  return d.done({ outcome: 'ok', ticket: d.view(t) });
}

/** A queued ticket row for a request. */
function newTicket(d: Draft, req: QueueRequest, lockId: number | null, waitSeconds: number | null): TicketRow {
  return {
    id: req.ticketId,
    lockId,
    seq: d.nextSeq(),
    status: 'queued',
    requesterId: req.requesterId,
    requesterName: req.requesterName,
    owner: req.owner,
    source: req.source,
    reason: req.reason,
    metadata: req.metadata,
    leaseDurationSeconds: req.leaseSeconds,
    waitDeadline: waitSeconds === null ? null : d.now + waitSeconds * 1000,
    idempotencyKey: req.idempotencyKey,
    leaseStart: null,
    leaseExpiresAt: null,
    fencingToken: null,
    renewedAt: null,
    releaseReason: null,
    releasedAt: null,
    releasedBy: null,
    createdAt: d.now,
    updatedAt: d.now,
    lockCount: req.pool ? req.pool.count : req.resources.length,
    poolId: null,
    poolRepository: null,
    poolName: null,
    locks: null,
  };
}

/** mutex_queue_set: a set, a pool ticket, a new lock or a coupled one, under the repository's lock, in the global order. */
function queueSet(d: Draft, req: QueueRequest): QueueAnswer {
  const { repository } = req;
  if (req.idempotencyKey !== null) {
    const first = d.allTickets().find((t) => t.requesterId === req.requesterId && t.idempotencyKey === req.idempotencyKey);
    if (first) {
      const n = d.names(first);
      const same = req.pool
        ? n.pool === req.pool.name && first.lockCount === req.pool.count
        : first.poolId === null && n.resources.join('\u0000') === req.resources.join('\u0000');
      if (n.repository !== repository || !same) return { outcome: 'idempotency_mismatch' };
      settleRepository(d, repository, d.lockIdsOf(first));
      return { outcome: 'replayed', ticket: d.view(d.ticket(first.id)!) };
    }
  }

  let pool: PoolRow | undefined;
  let locks: number[] = [];
  if (req.pool) {
    pool = d.poolNamed(repository, req.pool.name);
    if (!pool) return { outcome: 'no_such_pool' };
    if (req.pool.count > pool.members.length) return { outcome: 'count_too_large', size: pool.members.length };
  } else {
    const named = locksNamed(d, repository, [...req.resources]);
    if ('poolName' in named) return { outcome: 'pool_name', name: named.poolName };
    locks = named.locks.map((l) => l.id);
  }

  const claimed = settleRepository(d, repository, locks);
  let toGrant: number[] | null;
  if (pool) toGrant = pickMembers(d, pool.id, req.pool!.count, claimed);
  else toGrant = locks.some((id) => claimed.includes(id) || d.lock(id)!.holderId !== null) ? null : locks;
  if (req.tryOnly && toGrant === null) return { outcome: 'busy' };

  // Queued first, then granted if it can be, exactly as a waiter would be.
  let t = d.putTicket({
    ...newTicket(d, req, locks[0] ?? null, toGrant === null ? req.waitSeconds : null),
    poolId: pool?.id ?? null,
    locks: locks.length > 1 ? locks.map((lockId) => ({ lockId, fencingToken: null })) : null,
  });
  for (const id of locks) d.updateLock(id, { coupled: d.lock(id)!.coupled + (locks.length > 1 ? 1 : 0) });
  d.record('queued', t, req.requesterId, req.requesterName, req.reason);
  if (toGrant !== null) t = grant(d, t, toGrant);
  return { outcome: 'ok', ticket: d.view(t) };
}

export type SettleTicketAnswer = { outcome: 'ok'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_settle_ticket: a status read, a long-poll, a lease or wait-limit timer. */
export function settleTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, now: Millis): Step<SettleTicketAnswer> {
  const d = new Draft(state, now);
  const t = d.ticket(ticketId);
  if (!t || !d.under(t, repository, resource)) return d.done({ outcome: 'not_found' });
  const lock = d.lock(t.lockId);
  if (t.status !== 'released' && (d.isSet(t) || lock!.coupled > 0)) {
    const { repository: repo } = d.names(t);
    if (coupledDue(d, repo)) settleRepository(d, repo);
  } else if (t.status !== 'released' && lockDue(d, lock!)) {
    settle(d, lock!.id);
  }
  return d.done({ outcome: 'ok', ticket: d.view(d.ticket(ticketId)!) });
}

export type ReleaseAnswer = { outcome: 'ok' | 'ended'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_release_ticket: a holder frees its lock(s) (the next waiters are granted), a waiter leaves ('cancelled'). */
export function releaseTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, actor: Actor, now: Millis): Step<ReleaseAnswer> {
  const d = new Draft(state, now);
  const found = d.ticket(ticketId);
  const lock = ownLockUnder(d, found, repository, resource);
  if (!lock || lock.coupled > 0) {
    if (!found || !d.under(found, repository, resource)) return d.done({ outcome: 'not_found' });
    return d.done(releaseCoupled(d, ticketId, actor));
  }
  settleIfDue(d, lock.id);
  let t = d.ticket(ticketId)!;
  if (t.status === 'released') return d.done({ outcome: 'ended', ticket: d.view(t) });
  if (t.status === 'acquired') {
    t = endHolder(d, d.lock(lock.id)!, 'released', actor.id, actor.name, null);
  } else {
    t = d.updateTicket(t.id, { status: 'released', releaseReason: 'cancelled', releasedAt: now, releasedBy: actor.name });
    d.updateLock(lock.id, {});
    d.record('cancelled', t, actor.id, actor.name, null);
  }
  if (d.namedWaiters(lock.id).length > 0) settle(d, lock.id);
  return d.done({ outcome: 'ok', ticket: d.view(t) });
}

export type RenewAnswer = { outcome: 'ok' | 'not_holder'; ticket: TicketView } | { outcome: 'not_found' };

/** mutex_renew_ticket: the holder's lease runs `leaseSeconds` (or its current length) from now, on all its locks. */
export function renewTicket(state: StoreState, ticketId: string, repository: string | null, resource: string | null, leaseSeconds: number | null, actor: Actor, now: Millis): Step<RenewAnswer> {
  const d = new Draft(state, now);
  const found = d.ticket(ticketId);
  const lock = ownLockUnder(d, found, repository, resource);
  if (!lock || lock.coupled > 0) {
    if (!found || !d.under(found, repository, resource)) return d.done({ outcome: 'not_found' });
    settleRepository(d, d.names(found).repository);
  } else {
    settleIfDue(d, lock.id);
  }
  const t = d.ticket(ticketId)!;
  if (t.status !== 'acquired') return d.done({ outcome: 'not_holder', ticket: d.view(t) });
  const length = leaseSeconds ?? t.leaseDurationSeconds;
  const renewed = d.updateTicket(t.id, { leaseDurationSeconds: length, leaseExpiresAt: now + length * 1000, renewedAt: now });
  for (const id of d.lockIdsOf(renewed)) d.updateLock(id, {});
  d.record('renewed', renewed, actor.id, actor.name, null);
  return d.done({ outcome: 'ok', ticket: d.view(renewed) });
}

/**
 * mutex_clear_lock: of a lock, its holder and every waiter that named it end 'cleared' (a set's
 * ticket with all its resources); of a pool, every ticket of the pool. What had already run out is
 * settled first.
 */
export function clearLock(state: StoreState, repository: string, resource: string, actor: Actor, now: Millis): Step<null> {
  const d = new Draft(state, now);
  const found = d.lockNamed(repository, resource);
  const pool = found ? undefined : d.poolNamed(repository, resource);
  if (!found && !pool) return d.done(null);
  if (found && found.coupled === 0) {
    settle(d, found.id);
    const live = d
      .allTickets()
      .filter((t) => t.lockId === found.id && t.status !== 'released')
      .sort((a, b) => a.seq - b.seq);
    for (const l of live) {
      const t = d.updateTicket(l.id, { status: 'released', releaseReason: 'cleared', releasedAt: now, releasedBy: actor.name });
      d.record('cleared', t, actor.id, actor.name, 'force clear');
      d.ended.push(d.view(t));
    }
    const lock = d.lock(found.id)!;
    d.updateLock(found.id, { holderId: null, freedAt: lock.holderId === null ? lock.freedAt : now, passedSeq: d.seq });
    return d.done(null);
  }
  settleRepository(d, repository);
  const lock = found ? d.lock(found.id)! : undefined;
  const targets = d
    .allTickets()
    .filter(
      (t) =>
        t.status !== 'released' &&
        ((pool !== undefined && t.poolId === pool.id) ||
          (lock !== undefined && (t.id === lock.holderId || (t.status === 'queued' && (t.lockId === lock.id || (t.locks ?? []).some((x) => x.lockId === lock.id)))))),
    )
    .sort((a, b) => Number(a.status === 'queued') - Number(b.status === 'queued') || a.seq - b.seq);
  let freed: number[] = [];
  for (const t of targets) {
    freed = freed.concat(d.lockIdsOf(d.ticket(t.id)!));
    d.ended.push(d.view(endTicket(d, d.ticket(t.id)!, 'cleared', actor.id, actor.name, 'force clear')));
  }
  if (lock) d.updateLock(lock.id, { passedSeq: d.seq });
  d.granted.push(...grantWaiters(d, repository, coupledLockIds(d, repository).concat(freed)).granted);
  return d.done(null);
}

/** Dapr's unlock statuses: 0 released, 1 nobody holds the lock, 2 held by another owner. */
export type UnlockStatus = 0 | 1 | 2;

/** mutex_release_owner: a Dapr unlock. */
export function releaseOwner(state: StoreState, repository: string, resource: string, owner: string, actor: Actor, now: Millis): Step<UnlockStatus> {
  const d = new Draft(state, now);
  const found = d.lockNamed(repository, resource);
  if (!found) return d.done(1);
  if (found.coupled > 0) settleRepository(d, repository);
  else settle(d, found.id);
  const lock = d.lock(found.id)!;
  if (!lock.holderId) return d.done(1);
  if (d.ticket(lock.holderId)!.owner !== owner) return d.done(2);
  if (lock.coupled > 0) {
    const before = d.ended.length;
    const r = releaseCoupled(d, lock.holderId, actor);
    d.ended.splice(before, 0, r.ticket); // the released ticket, then whatever its release ended
    return d.done(0);
  }
  d.ended.push(d.view(endHolder(d, lock, 'released', actor.id, actor.name, null)));
  settle(d, lock.id);
  return d.done(0);
}

/** mutex_settle_lock: settles a lock (or a pool's locks) by name when something on it is due. */
export function settleLock(state: StoreState, repository: string, resource: string, now: Millis): Step<'ok' | 'not_found'> {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  if (!lock && !d.poolNamed(repository, resource)) return d.done('not_found');
  if (!lock || lock.coupled > 0) {
    if (coupledDue(d, repository)) settleRepository(d, repository);
    return d.done('ok');
  }
  settleIfDue(d, lock.id);
  return d.done('ok');
}

/** mutex_sweep: settles what is overdue, earliest deadline first, at most `limit` locks; coupled ones by repository, once each. */
export function sweep(state: StoreState, limit: number, now: Millis): Step<null> {
  const d = new Draft(state, now);
  const due = new Map<string, { lockId: number | null; poolId: number | null; at: Millis }>();
  const note = (lockId: number | null, poolId: number | null, at: Millis) => {
    const key = `${lockId}:${poolId}`;
    const seen = due.get(key);
    if (!seen || at < seen.at) due.set(key, { lockId, poolId, at });
  };
  const overdue = (pick: (t: TicketRow) => Millis | null) =>
    d
      .allTickets()
      .filter((t) => pick(t) !== null && pick(t)! <= now)
      .sort((a, b) => pick(a)! - pick(b)!)
      .slice(0, limit);
  for (const t of overdue((t) => (t.status === 'acquired' ? t.leaseExpiresAt : null))) note(t.lockId, null, t.leaseExpiresAt!);
  for (const t of overdue((t) => (t.status === 'queued' ? t.waitDeadline : null))) note(t.lockId, t.lockId === null ? t.poolId : null, t.waitDeadline!);
  const order = [...due.values()]
    .sort((a, b) => a.at - b.at || (a.lockId ?? Infinity) - (b.lockId ?? Infinity) || (a.poolId ?? 0) - (b.poolId ?? 0))
    .slice(0, limit);
  const done = new Set<string>();
  for (const item of order) {
    const lock = d.lock(item.lockId);
    if (lock && lock.coupled === 0) {
      settle(d, lock.id);
      continue;
    }
    const repository = lock?.repository ?? d.pool(item.poolId)?.repository;
    if (repository !== undefined && !done.has(repository)) {
      done.add(repository);
      settleRepository(d, repository);
    }
  }
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
// Pools (55-pools.sql).

export type PutPoolAnswer = { outcome: 'ok'; created: boolean } | { outcome: 'name_is_resource' } | { outcome: 'member_is_pool'; name: string };

/** mutex_put_pool: creates or replaces a pool; its waiting tickets that ask for more members than it now has end 'cancelled'. */
export function putPool(state: StoreState, repository: string, name: string, resources: string[], description: string | null, actor: Actor, now: Millis): Step<PutPoolAnswer> {
  const d = new Draft(state, now);
  if (d.lockNamed(repository, name)) return d.done({ outcome: 'name_is_resource' });
  const clash = d.poolsOf(repository).find((p) => resources.includes(p.name));
  if (clash) return d.done({ outcome: 'member_is_pool', name: clash.name });
  const existing = d.poolNamed(repository, name);
  let pool = d.putPool({ id: existing?.id, repository, name, description, members: existing?.members ?? [] });
  const old = [...pool.members];
  const members = resources.map((r) => (d.lockNamed(repository, r) ?? d.createLock(repository, r)).id);
  settleRepository(d, repository, members);
  for (const id of old) if (!members.includes(id)) d.updateLock(id, { coupled: d.lock(id)!.coupled - 1 });
  for (const id of members) if (!old.includes(id)) d.updateLock(id, { coupled: d.lock(id)!.coupled + 1 });
  pool = d.putPool({ ...pool, members });
  const tooMany = d
    .allTickets()
    .filter((t) => t.poolId === pool.id && t.status === 'queued' && t.lockCount > members.length)
    .sort((a, b) => a.seq - b.seq);
  for (const t of tooMany) d.ended.push(d.view(endTicket(d, t, 'cancelled', actor.id, actor.name, 'the pool has fewer members than it asked for')));
  d.granted.push(...grantWaiters(d, repository, coupledLockIds(d, repository).concat(old, members)).granted);
  return d.done({ outcome: 'ok', created: !existing });
}

/** mutex_delete_pool: its waiting tickets end 'cancelled'; members its tickets hold stay held until released. */
export function deletePool(state: StoreState, repository: string, name: string, actor: Actor, now: Millis): Step<'ok' | 'not_found'> {
  const d = new Draft(state, now);
  const pool = d.poolNamed(repository, name);
  if (!pool) return d.done('not_found');
  settleRepository(d, repository);
  const waiting = d
    .allTickets()
    .filter((t) => t.poolId === pool.id && t.status === 'queued')
    .sort((a, b) => a.seq - b.seq);
  for (const t of waiting) d.ended.push(d.view(endTicket(d, t, 'cancelled', actor.id, actor.name, 'the pool was deleted')));
  for (const id of pool.members) d.updateLock(id, { coupled: d.lock(id)!.coupled - 1 });
  d.deletePool(pool.id);
  d.granted.push(...grantWaiters(d, repository, coupledLockIds(d, repository).concat(pool.members)).granted);
  return d.done('ok');
}

// ---------------------------------------------------------------------------------------------
// Reads (80-reads.sql); they change nothing.

/** mutex_list: of a lock or a pool, the holder(s), then the queue in order, then tickets released within the retention, newest first. */
export function listLock(state: StoreState, repository: string, resource: string, retentionSeconds: number, limit: number, now: Millis): TicketView[] {
  const d = new Draft(state, now);
  const lock = d.lockNamed(repository, resource);
  const pool = d.poolNamed(repository, resource);
  const rank = (t: TicketRow) => (t.status === 'acquired' ? 0 : t.status === 'queued' ? 1 : 2);
  return d
    .allTickets()
    .filter(
      (t) =>
        ((lock !== undefined && (t.lockId === lock.id || (t.locks ?? []).some((x) => x.lockId === lock.id))) || (pool !== undefined && t.poolId === pool.id)) &&
        (t.status !== 'released' || t.releasedAt! > now - retentionSeconds * 1000),
    )
    .sort((a, b) => rank(a) - rank(b) || (rank(a) < 2 ? a.seq - b.seq : b.releasedAt! - a.releasedAt! || b.seq - a.seq))
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
  return d
    .locksOf(repository)
    .sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0))
    .slice(0, limit)
    .map((lock) => ({ lock, queueLength: d.namedWaiters(lock.id).length, holder: lock.holderId ? d.view(d.ticket(lock.holderId)!) : null }));
}

export interface PoolViewRow {
  readonly pool: PoolRow;
  readonly members: { lock: LockRow; holder: TicketView | null }[];
  readonly queue: TicketView[];
}

/** mutex_pool_view: members in order with their holders, and the pool's waiting tickets in order. */
export function poolView(state: StoreState, repository: string, name: string): PoolViewRow | null {
  const d = new Draft(state, 0);
  const pool = d.poolNamed(repository, name);
  if (!pool) return null;
  return {
    pool,
    members: pool.members.map((id) => {
      const lock = d.lock(id)!;
      return { lock, holder: lock.holderId ? d.view(d.ticket(lock.holderId)!) : null };
    }),
    queue: d
      .allTickets()
      .filter((t) => t.poolId === pool.id && t.status === 'queued')
      .sort((a, b) => a.seq - b.seq)
      .map((t) => d.view(t)),
  };
}

/**
 * Deletes tickets released more than `retentionSeconds` ago (their audit goes with them), and
 * forgets the idempotency keys of tickets released more than `keySeconds` ago. A waiter that left
 * is kept until the queue of its lock has moved past it (the SQL counts it to place the waiters
 * behind it).
 */
export function purgeReleased(state: StoreState, retentionSeconds: number, keySeconds: number, now: Millis): Step<number> {
  const d = new Draft(state, now);
  let purged = 0;
  for (const t of d.allTickets()) {
    if (t.status !== 'released') continue;
    if (t.idempotencyKey !== null && t.releasedAt! < now - keySeconds * 1000) d.putTicket({ ...t, idempotencyKey: null });
    if (t.releasedAt! >= now - retentionSeconds * 1000) continue;
    if (t.leaseStart === null && t.lockId !== null && t.seq > d.lock(t.lockId)!.passedSeq) continue;
    d.deleteTicket(t.id);
    purged++;
  }
  return d.done(purged);
}
