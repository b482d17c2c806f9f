import type { ReleaseReason, TicketMetadata, TicketSource, TicketStatus } from './ticket';

/**
 * The state of the lock-store model (lock-store.machine.ts): the rows of the SQL tables it
 * mirrors, and `Draft`, one operation's working copy of them.
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
  /** What ties it to other locks: live sets that include it, pools it belongs to, pool tickets holding it among others. */
  readonly coupled: number;
  /** When it last became free (pool members go free-longest first). */
  readonly freedAt: Millis | null;
  readonly createdAt: Millis;
  readonly updatedAt: Millis;
}

/** One of a set's resources, or a member a pool ticket got, with its token once granted. */
export interface TicketLock {
  readonly lockId: number;
  readonly fencingToken: number | null;
}

export interface TicketRow {
  readonly id: string;
  /** Its first lock; null while a pool ticket waits. */
  readonly lockId: number | null;
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
  /** 1, a set's size, or a pool ticket's count. */
  readonly lockCount: number;
  readonly poolId: number | null;
  /** A deleted pool's names, kept by its tickets (null while the pool exists, and for other tickets). */
  readonly poolRepository: string | null;
  readonly poolName: string | null;
  /** A set's resources, or the members a pool ticket got; null for a ticket of one lock. */
  readonly locks: readonly TicketLock[] | null;
}

export interface PoolRow {
  readonly id: number;
  readonly repository: string;
  readonly name: string;
  readonly description: string | null;
  /** Lock ids, in the order the owner listed them. */
  readonly members: readonly number[];
  readonly createdAt: Millis;
  readonly updatedAt: Millis;
}

export interface StoreState {
  readonly locks: Readonly<Record<number, LockRow>>;
  readonly tickets: Readonly<Record<string, TicketRow>>;
  readonly pools: Readonly<Record<number, PoolRow>>;
  readonly lastLockId: number;
  readonly lastSeq: number;
  readonly lastPoolId: number;
}

export const emptyStore: StoreState = Object.freeze({
  locks: Object.freeze({}),
  tickets: Object.freeze({}),
  pools: Object.freeze({}),
  lastLockId: 0,
  lastSeq: 0,
  lastPoolId: 0,
});

export type AuditType = 'queued' | 'granted' | 'renewed' | ReleaseReason;

/** One row of the audit trail (lock_events), in the order the SQL writes them. */
export interface AuditEffect {
  readonly type: AuditType;
  readonly repository: string;
  /** Null while a pool ticket waits (it has no lock; `resource` is its pool's name). */
  readonly lockId: number | null;
  readonly resource: string;
  /** All of a set's or pool ticket's resources; null for a ticket of one lock. */
  readonly resources: readonly string[] | null;
  readonly pool: string | null;
  readonly ticketId: string;
  readonly actorId: string | null;
  readonly actorName: string | null;
  readonly fencingToken: number | null;
  readonly reason: string | null;
  readonly at: Millis;
}

/** A ticket as an answer shows it: its row, its names, its queue position. */
export interface TicketView extends Omit<TicketRow, 'locks' | 'poolId' | 'poolRepository' | 'poolName'> {
  readonly repository: string;
  readonly resource: string;
  readonly resources: string[];
  readonly fencingTokens: Record<string, number>;
  readonly pool: string | null;
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

const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;

/**
 * One operation's working copy: reads see its own writes, writes copy the row first, and
 * `done` returns the new state with the answer and the effects. The state it started from is
 * never touched.
 */
export class Draft {
  private readonly locks: Record<number, LockRow>;
  private readonly tickets: Record<string, TicketRow>;
  private readonly pools: Record<number, PoolRow>;
  private lastLockId: number;
  private lastSeq: number;
  private lastPoolId: number;
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
    this.pools = { ...base.pools };
    this.lastLockId = base.lastLockId;
    this.lastSeq = base.lastSeq;
    this.lastPoolId = base.lastPoolId;
  }

  // ---- locks

  lock(id: number | null): LockRow | undefined {
    return id === null ? undefined : this.locks[id];
  }

  lockNamed(repository: string, resource: string): LockRow | undefined {
    return Object.values(this.locks).find((l) => l.repository === repository && l.resource === resource);
  }

  locksOf(repository: string): LockRow[] {
    return Object.values(this.locks)
      .filter((l) => l.repository === repository)
      .sort(byId);
  }

  createLock(repository: string, resource: string): LockRow {
    const lock: LockRow = { id: ++this.lastLockId, repository, resource, fence: 0, holderId: null, passedSeq: 0, coupled: 0, freedAt: null, createdAt: this.now, updatedAt: this.now };
    this.locks[lock.id] = lock;
    this.changed = true;
    return lock;
  }

  updateLock(id: number, patch: Partial<LockRow>): LockRow {
    const lock = { ...this.locks[id], ...patch, updatedAt: this.now };
    this.locks[id] = lock;
    this.changed = true;
    return lock;
  }

  // ---- pools

  pool(id: number | null): PoolRow | undefined {
    return id === null ? undefined : this.pools[id];
  }

  poolNamed(repository: string, name: string): PoolRow | undefined {
    return Object.values(this.pools).find((p) => p.repository === repository && p.name === name);
  }

  poolsOf(repository: string): PoolRow[] {
    return Object.values(this.pools).filter((p) => p.repository === repository);
  }

  putPool(pool: Omit<PoolRow, 'id' | 'createdAt' | 'updatedAt'> & { id?: number }): PoolRow {
    const existing = pool.id === undefined ? undefined : this.pools[pool.id];
    const row: PoolRow = { ...pool, id: existing?.id ?? ++this.lastPoolId, createdAt: existing?.createdAt ?? this.now, updatedAt: this.now };
    this.pools[row.id] = row;
    this.changed = true;
    return row;
  }

  /** Deletes a pool; its tickets keep its names but lose its id (ON DELETE SET NULL). */
  deletePool(id: number): void {
    const { repository, name } = this.pools[id];
    delete this.pools[id];
    for (const t of Object.values(this.tickets)) {
      if (t.poolId === id) this.tickets[t.id] = { ...t, poolId: null, poolRepository: repository, poolName: name };
    }
    this.changed = true;
  }

  // ---- tickets

  ticket(id: string): TicketRow | undefined {
    return this.tickets[id];
  }

  allTickets(): TicketRow[] {
    return Object.values(this.tickets);
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

  /** Does it ask for more than one lock, or for a pool's members (of a pool that may since have been deleted)? */
  isSet(t: TicketRow): boolean {
    return t.lockCount > 1 || t.poolId !== null || t.poolName !== null;
  }

  /** The locks it names or holds, in order. */
  lockIdsOf(t: TicketRow): number[] {
    return this.isSet(t) ? (t.locks ?? []).map((x) => x.lockId) : [t.lockId!];
  }

  /** The locks it can use: those it names, or, while a pool ticket waits, its pool's members. */
  usableLockIds(t: TicketRow): number[] {
    if (t.status === 'queued' && t.poolId !== null) return [...this.pools[t.poolId].members];
    return this.lockIdsOf(t);
  }

  /** Waiting tickets that count in this lock's queue: the ones that name it (alone or in a set). */
  namedWaiters(lockId: number): TicketRow[] {
    return this.allTickets()
      .filter((t) => t.status === 'queued' && t.poolId === null && this.lockIdsOf(t).includes(lockId))
      .sort((a, b) => a.seq - b.seq);
  }

  /** Is the ticket found under the path (repository, name)? Null parts match anything. (mutex_ticket_under) */
  under(t: TicketRow, repository: string | null, resource: string | null): boolean {
    if (repository === null && resource === null) return true;
    const matches = (r: string, n: string) => (repository === null || r === repository) && (resource === null || n === resource);
    const own = this.lock(t.lockId);
    if (own && matches(own.repository, own.resource)) return true;
    if (!this.isSet(t)) return false;
    if ((t.locks ?? []).some((x) => matches(this.locks[x.lockId].repository, this.locks[x.lockId].resource))) return true;
    const pool = this.pool(t.poolId);
    if (pool) return matches(pool.repository, pool.name);
    // A deleted pool's ticket keeps its names, and is still found under them.
    return t.poolName !== null && matches(t.poolRepository!, t.poolName);
  }

  /** Repository, resources in order and pool name of a ticket of any kind. */
  names(t: TicketRow): { repository: string; resources: string[]; pool: string | null } {
    const pool = this.pool(t.poolId);
    const locks = this.isSet(t) ? (t.locks ?? []).map((x) => this.locks[x.lockId]) : [this.locks[t.lockId!]];
    return {
      repository: locks[0]?.repository ?? pool?.repository ?? t.poolRepository!,
      resources: locks.map((l) => l.resource),
      pool: pool?.name ?? t.poolName,
    };
  }

  /** 0 for the holder, null once released, else 1 + the earlier waiters that can use any lock it can. */
  queuePosition(t: TicketRow): number | null {
    if (t.status === 'acquired') return 0;
    if (t.status === 'released') return null;
    const usable = this.usableLockIds(t);
    const ahead = this.allTickets().filter((w) => w.status === 'queued' && w.seq < t.seq && this.usableLockIds(w).some((id) => usable.includes(id)));
    return ahead.length + 1;
  }

  view(t: TicketRow): TicketView {
    const { locks, poolId, poolRepository, poolName, ...row } = t;
    void poolId, poolRepository, poolName;
    const n = this.names(t);
    const fencingTokens: Record<string, number> = {};
    if (locks) for (const x of locks) if (x.fencingToken !== null) fencingTokens[this.locks[x.lockId].resource] = x.fencingToken;
    if (!locks && t.fencingToken !== null) fencingTokens[n.resources[0]] = t.fencingToken;
    return { ...row, repository: n.repository, resource: n.resources[0] ?? n.pool!, resources: n.resources, fencingTokens, pool: n.pool, queuePosition: this.queuePosition(t) };
  }

  record(type: AuditType, t: TicketRow, actorId: string | null, actorName: string | null, reason: string | null): void {
    const n = this.names(t);
    const set = this.isSet(t);
    this.audit.push({
      type,
      repository: n.repository,
      lockId: t.lockId,
      resource: n.resources[0] ?? n.pool!,
      resources: set && n.resources.length > 0 ? n.resources : null,
      pool: set ? n.pool : null,
      ticketId: t.id,
      actorId,
      actorName,
      // A 'queued' event carries no token: the ticket had none yet, even when granted at once.
      fencingToken: type === 'queued' ? null : t.fencingToken,
      reason,
      at: this.now,
    });
  }

  done<A>(answer: A): Step<A> {
    const state: StoreState = this.changed
      ? { locks: this.locks, tickets: this.tickets, pools: this.pools, lastLockId: this.lastLockId, lastSeq: this.lastSeq, lastPoolId: this.lastPoolId }
      : this.base;
    return { state, answer, granted: this.granted, ended: this.ended, audit: this.audit };
  }
}
