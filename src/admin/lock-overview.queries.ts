import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { escapeLike } from './repository-patterns';
import { SqlWhereBuilder, statementName } from './sql-where.builder';
import { STUCK_REASON_SQL, StuckReason } from './stuck-rule';

export interface LockFilter {
  /** LIKE patterns of the caller's key; null for every repository. */
  repositoryLike: string[] | null;
  repository?: string;
  resource?: string;
  prefix?: string;
  contains?: string;
  held?: boolean;
  active?: boolean;
  stuck?: boolean;
}

/** single: one resource by name; set: several by name, all at once; pool: `count` members of a pool. */
export type TicketKind = 'single' | 'set' | 'pool';

/** What a ticket asks for, so the same ticket is recognisable on each of its resources. */
export interface TicketScope {
  kind: TicketKind;
  /** Every resource it names or holds, in order (a waiting pool ticket: none yet). */
  resources: string[];
  pool: string | null;
  /** How many resources it asks for. */
  count: number;
}

export interface WaiterRow extends TicketScope {
  ticketId: string;
  requesterId: string;
  requesterName: string;
  createdAt: Date;
  waitDeadline: Date | null;
  leaseDurationSeconds: number;
  reason: string | null;
  metadata: Record<string, string>;
}

export interface HolderRow extends TicketScope {
  ticketId: string;
  requesterId: string;
  requesterName: string;
  leaseStart: Date;
  leaseExpiresAt: Date;
  leaseDurationSeconds: number;
  renewedAt: Date | null;
  /** Its token on this lock (a set's or pool ticket's differs per resource). */
  fencingToken: number;
  reason: string | null;
  metadata: Record<string, string>;
  source: string;
}

export interface LockRow {
  lockId: number;
  repository: string;
  resource: string;
  fence: number;
  /** Waiting tickets that name it, alone or in a set (locks.queue_length). */
  queueLength: number;
  /** The pools it is a member of, by name. */
  pools: string[];
  /** Waiting tickets of those pools (not in queueLength). */
  poolWaiters: number;
  updatedAt: Date;
  stuckReason: StuckReason | null;
  holder: HolderRow | null;
  nextWaiter: WaiterRow | null;
}

export interface LockPage {
  total: number;
  /** Database time of the read: ages and countdowns are computed against it. */
  at: Date;
  rows: LockRow[];
}

type Raw = Record<string, any>;
const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));

/** The names of a set's or pool ticket (mutex_ticket_names, 10-tickets.sql); NULL for a ticket of one resource, whose name the caller knows. */
const namesOf = (t: string) => `CASE WHEN mutex_ticket_is_set(${t}) THEN to_jsonb(mutex_ticket_names(${t})) END`;

/** Waiting pool tickets that can use the lock `l` (the pools it belongs to couple it, so only then is there anything to count). */
const POOL_WAITERS_SQL = (l: string) => `
  CASE WHEN ${l}.coupled > 0 THEN (
    SELECT count(*)::integer FROM pool_members m JOIN tickets w ON w.pool_id = m.pool_id AND w.status = 'queued'
     WHERE m.lock_id = ${l}.id) ELSE 0 END`;

/**
 * Read-only queries over `locks` and `tickets` for the owner's view. It never changes a lock:
 * a lease that is due shows as held until the sweep (≤ SWEEP_INTERVAL_MS) expires it.
 *
 * A lock's waiters are every ticket that can use it, in the one global order (mutex_lock_waiters,
 * 80-reads.sql): those naming it, alone or in a set, and the waiting tickets of its pools.
 */
@Injectable()
export class LockOverviewQueries {
  constructor(private readonly pg: PgPool) {}

  async page(filter: LockFilter, limit: number, offset: number): Promise<LockPage> {
    const w = new SqlWhereBuilder();
    if (filter.repositoryLike) w.and((p) => `l.repository LIKE ANY(${p(filter.repositoryLike)}::text[])`);
    if (filter.repository !== undefined) w.and((p) => `l.repository = ${p(filter.repository)}`);
    if (filter.resource !== undefined) w.and((p) => `l.resource = ${p(filter.resource)}`);
    if (filter.prefix !== undefined) w.and((p) => `l.resource LIKE ${p(escapeLike(filter.prefix!) + '%')}`);
    if (filter.contains !== undefined) {
      w.and((p) => {
        const needle = p('%' + escapeLike(filter.contains!) + '%');
        return `(l.resource ILIKE ${needle} OR l.repository ILIKE ${needle})`;
      });
    }
    if (filter.held) w.and(() => `l.holder_id IS NOT NULL`);
    if (filter.held === false) w.and(() => `l.holder_id IS NULL`);
    // Active: held, or wanted by a waiter (by name, or through a pool).
    if (filter.active) w.and(() => `(l.holder_id IS NOT NULL OR l.queue_length > 0 OR ${POOL_WAITERS_SQL('l')} > 0)`);
    if (filter.stuck) w.and(() => `(${STUCK_REASON_SQL}) IS NOT NULL`);
    if (filter.stuck === false) w.and(() => `(${STUCK_REASON_SQL}) IS NULL`);
    const limitParam = w.param(limit);
    const offsetParam = w.param(offset);
    // One round trip: the total and the page, with each page row's next waiter.
    const text = `
      WITH f AS (
        SELECT l.id, l.repository, l.resource, l.fence, l.queue_length, l.coupled, l.updated_at,
               h.id AS h_id, h.requester_id AS h_requester_id, h.requester_name AS h_requester_name,
               h.lease_start AS h_lease_start, l.holder_expires_at AS h_lease_expires_at,
               h.lease_duration_seconds AS h_lease_duration_seconds, h.renewed_at AS h_renewed_at,
               -- the fence moves only on a grant: while held, it is the holder's token on this lock
               l.fence AS h_fencing_token, h.reason AS h_reason, h.metadata AS h_metadata, h.source AS h_source,
               h.lock_count AS h_lock_count, h.pool_id AS h_pool_id,
               ${STUCK_REASON_SQL} AS stuck_reason
          FROM locks l LEFT JOIN tickets h ON h.id = l.holder_id
          ${w.sql()}
      )
      SELECT (SELECT count(*)::integer FROM f) AS total, now() AS at,
             COALESCE((
               SELECT jsonb_agg(to_jsonb(pg) ORDER BY pg.repository, pg.resource)
                 FROM (
                   SELECT f.*,
                          (SELECT ${namesOf('t')} FROM tickets t WHERE t.id = f.h_id) AS h_names,
                          CASE WHEN f.coupled > 0 THEN (
                            SELECT array_agg(p.name ORDER BY p.name) FROM pool_members m JOIN pools p ON p.id = m.pool_id
                             WHERE m.lock_id = f.id) END AS pools,
                          ${POOL_WAITERS_SQL('f')} AS pool_waiters,
                          q.id AS w_id, q.requester_id AS w_requester_id, q.requester_name AS w_requester_name,
                          q.created_at AS w_created_at, q.wait_deadline AS w_wait_deadline,
                          q.lease_duration_seconds AS w_lease_duration_seconds, q.reason AS w_reason, q.metadata AS w_metadata,
                          q.lock_count AS w_lock_count, q.pool_id AS w_pool_id, q.names AS w_names
                     FROM (SELECT * FROM f ORDER BY repository, resource LIMIT ${limitParam} OFFSET ${offsetParam}) f
                     LEFT JOIN LATERAL (
                       SELECT t.*, ${namesOf('t')} AS names FROM mutex_lock_waiters(f.id, 1) t
                        WHERE f.queue_length > 0 OR f.coupled > 0
                     ) q ON true
                 ) pg
             ), '[]'::jsonb) AS items`;
    const [row] = await this.pg.query<Raw>(statementName('admin_locks', text), text, w.values);
    return { total: row.total, at: new Date(row.at), rows: (row.items as Raw[]).map(toLockRow) };
  }

  /** Every waiter that can use one lock, in the global order (at most `limit`). */
  async queue(lockId: number, resource: string, limit: number): Promise<WaiterRow[]> {
    const rows = await this.pg.query<Raw>(
      'admin_lock_waiters',
      `SELECT t.id AS w_id, t.requester_id AS w_requester_id, t.requester_name AS w_requester_name, t.created_at AS w_created_at,
              t.wait_deadline AS w_wait_deadline, t.lease_duration_seconds AS w_lease_duration_seconds, t.reason AS w_reason,
              t.metadata AS w_metadata, t.lock_count AS w_lock_count, t.pool_id AS w_pool_id, ${namesOf('t')} AS w_names
         FROM mutex_lock_waiters($1, $2) t
        ORDER BY t.seq`,
      [lockId, limit],
    );
    return rows.map((r) => toWaiter(r, resource)!);
  }
}

/** A ticket's kind and names; `names` is mutex_ticket_names' JSON, null for a ticket of the one resource `resource`. */
export function toScope(lockCount: number, poolId: unknown, names: Raw | null, resource: string): TicketScope {
  if (!names) return { kind: 'single', resources: [resource], pool: null, count: 1 };
  return {
    kind: poolId !== null && poolId !== undefined ? 'pool' : 'set',
    resources: names.resources ?? [],
    pool: names.pool ?? null,
    count: lockCount,
  };
}

function toWaiter(r: Raw, resource: string): WaiterRow | null {
  if (!r.w_id) return null;
  return {
    ticketId: r.w_id,
    requesterId: r.w_requester_id,
    requesterName: r.w_requester_name,
    createdAt: new Date(r.w_created_at),
    waitDeadline: date(r.w_wait_deadline),
    leaseDurationSeconds: r.w_lease_duration_seconds,
    reason: r.w_reason ?? null,
    metadata: r.w_metadata ?? {},
    ...toScope(r.w_lock_count, r.w_pool_id, r.w_names, resource),
  };
}

function toLockRow(r: Raw): LockRow {
  return {
    lockId: Number(r.id),
    repository: r.repository,
    resource: r.resource,
    fence: Number(r.fence),
    queueLength: r.queue_length,
    pools: r.pools ?? [],
    poolWaiters: r.pool_waiters,
    updatedAt: new Date(r.updated_at),
    stuckReason: r.stuck_reason ?? null,
    holder: r.h_id
      ? {
          ticketId: r.h_id,
          requesterId: r.h_requester_id,
          requesterName: r.h_requester_name,
          leaseStart: new Date(r.h_lease_start),
          leaseExpiresAt: new Date(r.h_lease_expires_at),
          leaseDurationSeconds: r.h_lease_duration_seconds,
          renewedAt: date(r.h_renewed_at),
          fencingToken: Number(r.h_fencing_token),
          reason: r.h_reason ?? null,
          metadata: r.h_metadata ?? {},
          source: r.h_source,
          ...toScope(r.h_lock_count, r.h_pool_id, r.h_names, r.resource),
        }
      : null,
    nextWaiter: toWaiter(r, r.resource),
  };
}
