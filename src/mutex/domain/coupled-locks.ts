import { Actor, Draft, LockRow, TicketRow, TicketView } from './store-state';
import type { ReleaseReason } from './ticket';

/**
 * Coupled locks in the model: sets of resources and pools, settled by one global order, rule for
 * rule as src/mutex/sql/25-coupled.sql and 55-pools.sql. A waiting ticket is granted when all it
 * needs is free and no earlier waiter can use any of it; a waiter that cannot be granted claims
 * every lock it can use.
 */

const SYSTEM = 'system';

export function coupledLockIds(d: Draft, repository: string): number[] {
  return d
    .locksOf(repository)
    .filter((l) => l.coupled > 0)
    .map((l) => l.id);
}

/** The waiters that can use any of these locks (by name, or through a pool of the repository), in the global order. */
export function waitersOf(d: Draft, repository: string, lockIds: number[]): TicketRow[] {
  const pools = new Set(d.poolsOf(repository).map((p) => p.id));
  return d
    .allTickets()
    .filter(
      (t) =>
        t.status === 'queued' &&
        ((t.lockId !== null && lockIds.includes(t.lockId)) || (t.locks ?? []).some((x) => lockIds.includes(x.lockId)) || (t.poolId !== null && pools.has(t.poolId))),
    )
    .sort((a, b) => a.seq - b.seq);
}

/** Is a holder past its lease, or a waiter past its wait limit, among the coupled locks of a repository? */
export function coupledDue(d: Draft, repository: string): boolean {
  const ids = coupledLockIds(d, repository);
  return (
    ids.some((id) => {
      const l = d.lock(id)!;
      return l.holderId !== null && d.ticket(l.holderId)!.leaseExpiresAt! <= d.now;
    }) || waitersOf(d, repository, ids).some((w) => w.waitDeadline !== null && w.waitDeadline <= d.now)
  );
}

/** mutex_end_ticket: a holder frees every lock it holds, a waiter leaves every queue; a set's ties are undone. */
export function endTicket(d: Draft, t: TicketRow, reason: ReleaseReason, actorId: string | null, actorName: string, auditReason: string | null): TicketRow {
  const locks = d.lockIdsOf(t);
  const untie = t.lockCount > 1 ? 1 : 0;
  const r = d.updateTicket(t.id, { status: 'released', releaseReason: reason, releasedAt: d.now, releasedBy: actorName });
  for (const id of locks) {
    const l = d.lock(id)!;
    if (t.status === 'acquired') {
      if (l.holderId === t.id) d.updateLock(id, { holderId: null, freedAt: d.now, coupled: l.coupled - untie });
    } else {
      d.updateLock(id, { coupled: l.coupled - untie });
    }
  }
  d.record(reason, r, actorId, actorName, auditReason);
  return r;
}

/** mutex_grant: each lock's fence + 1 is the ticket's token there; one lease covers them all. */
export function grant(d: Draft, t: TicketRow, lockIds: number[]): TicketRow {
  const pool = t.poolId !== null;
  const tokens: { lockId: number; fencingToken: number | null }[] = [];
  for (const id of lockIds) {
    const l = d.lock(id)!;
    const fence = l.fence + 1;
    d.updateLock(id, {
      fence,
      holderId: t.id,
      passedSeq: id === t.lockId && !pool ? Math.max(l.passedSeq, t.seq) : l.passedSeq,
      coupled: l.coupled + (pool && t.lockCount > 1 ? 1 : 0),
    });
    tokens.push({ lockId: id, fencingToken: fence });
  }
  const r = d.updateTicket(t.id, {
    status: 'acquired',
    leaseStart: d.now,
    leaseExpiresAt: d.now + t.leaseDurationSeconds * 1000,
    fencingToken: tokens[0].fencingToken,
    lockId: t.lockId ?? lockIds[0],
    locks: pool || t.lockCount > 1 ? tokens : null,
  });
  d.record('granted', r, r.requesterId, r.requesterName, r.reason);
  return r;
}

/** mutex_pick_members: `count` free members no earlier waiter claims, the one free the longest first. */
export function pickMembers(d: Draft, poolId: number, count: number, taken: number[]): number[] | null {
  const picked = d
    .pool(poolId)!
    .members.map((id) => d.lock(id)!)
    .filter((l) => l.holderId === null && !taken.includes(l.id))
    .sort((a, b) => (a.freedAt ?? a.createdAt) - (b.freedAt ?? b.createdAt) || a.id - b.id)
    .slice(0, count)
    .map((l) => l.id);
  return picked.length < count ? null : picked;
}

/** mutex_grant_waiters: grants in the global order what can be granted; returns what the rest claim. */
export function grantWaiters(d: Draft, repository: string, lockIds: number[]): { granted: TicketView[]; claimed: number[] } {
  let claimed: number[] = [];
  const granted: TicketView[] = [];
  for (const w of waitersOf(d, repository, lockIds)) {
    let want: number[] | null;
    if (w.poolId !== null) {
      want = pickMembers(d, w.poolId, w.lockCount, claimed);
    } else {
      want = d.lockIdsOf(w);
      if (want.some((id) => claimed.includes(id) || d.lock(id)!.holderId !== null)) want = null;
    }
    if (want === null) claimed = claimed.concat(d.usableLockIds(w));
    else granted.push(d.view(grant(d, w, want)));
  }
  return { granted, claimed };
}

/**
 * mutex_settle_coupled: the coupled locks of a repository (and `also`) at now: waiters past their
 * wait limit leave, holders past their lease are released, then waiters are granted in order.
 */
export function settleCoupled(d: Draft, repository: string, also: number[] = []): { granted: TicketView[]; ended: TicketView[]; claimed: number[] } {
  const locks = coupledLockIds(d, repository).concat(also);
  const ended: TicketView[] = [];
  for (const w of waitersOf(d, repository, locks).filter((x) => x.waitDeadline !== null && x.waitDeadline <= d.now)) {
    ended.push(d.view(endTicket(d, w, 'timed_out', null, SYSTEM, 'waited longer than its wait limit')));
  }
  const holders = new Set(locks.map((id) => d.lock(id)!.holderId).filter((id): id is string => id !== null));
  const expired = [...holders].map((id) => d.ticket(id)!).filter((t) => t.leaseExpiresAt! <= d.now);
  for (const t of expired.sort((a, b) => a.seq - b.seq)) ended.push(d.view(endTicket(d, t, 'expired', null, SYSTEM, 'lease ended')));
  const pass = grantWaiters(d, repository, locks);
  return { granted: pass.granted, ended, claimed: pass.claimed };
}

/** mutex_release_coupled: with the repository locked, every coupled lock settles, the ticket ends, its locks go to the next waiters. */
export function releaseCoupled(d: Draft, ticketId: string, actor: Actor): { outcome: 'ok' | 'ended'; ticket: TicketView } {
  const first = d.ticket(ticketId)!;
  const { repository } = d.names(first);
  const s = settleCoupled(d, repository, d.lockIdsOf(first));
  d.granted.push(...s.granted);
  d.ended.push(...s.ended);
  const t = d.ticket(ticketId)!;
  if (t.status === 'released') return { outcome: 'ended', ticket: d.view(t) };
  const locks = d.lockIdsOf(t);
  const ended = endTicket(d, t, t.status === 'acquired' ? 'released' : 'cancelled', actor.id, actor.name, null);
  d.granted.push(...grantWaiters(d, repository, coupledLockIds(d, repository).concat(locks)).granted);
  return { outcome: 'ok', ticket: d.view(ended) };
}

/** The lock rows a list of names needs, created on first use; or the first name that is a pool's. */
export function locksNamed(d: Draft, repository: string, names: string[]): { locks: LockRow[] } | { poolName: string } {
  const locks: LockRow[] = [];
  for (const name of names) {
    let lock = d.lockNamed(repository, name);
    if (!lock) {
      if (d.poolNamed(repository, name)) return { poolName: name };
      lock = d.createLock(repository, name);
    }
    locks.push(lock);
  }
  return { locks };
}
