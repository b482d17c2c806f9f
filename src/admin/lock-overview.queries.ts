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

export interface WaiterRow {
  ticketId: string;
  requesterId: string;
  requesterName: string;
  createdAt: Date;
  waitDeadline: Date | null;
  leaseDurationSeconds: number;
  reason: string | null;
  metadata: Record<string, string>;
}

export interface LockRow {
  lockId: number;
  repository: string;
  resource: string;
  fence: number;
  queueLength: number;
  updatedAt: Date;
  stuckReason: StuckReason | null;
  holder: {
    ticketId: string;
    requesterId: string;
    requesterName: string;
    leaseStart: Date;
    leaseExpiresAt: Date;
    leaseDurationSeconds: number;
    renewedAt: Date | null;
    fencingToken: number;
    reason: string | null;
    metadata: Record<string, string>;
    source: string;
  } | null;
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

/**
 * Read-only queries over `locks` and `tickets` for the owner's view. It never changes a lock:
 * a lease that is due shows as held until the sweep (≤ SWEEP_INTERVAL_MS) expires it.
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
    if (filter.active) w.and(() => `(l.holder_id IS NOT NULL OR l.queue_length > 0)`);
    if (filter.stuck) w.and(() => `(${STUCK_REASON_SQL}) IS NOT NULL`);
    if (filter.stuck === false) w.and(() => `(${STUCK_REASON_SQL}) IS NULL`);
    const limitParam = w.param(limit);
    const offsetParam = w.param(offset);
    // One round trip: the total and the page, with each page row's next waiter.
    const text = `
      WITH f AS (
        SELECT l.id, l.repository, l.resource, l.fence, l.queue_length, l.updated_at,
               h.id AS h_id, h.requester_id AS h_requester_id, h.requester_name AS h_requester_name,
               h.lease_start AS h_lease_start, l.holder_expires_at AS h_lease_expires_at,
               h.lease_duration_seconds AS h_lease_duration_seconds, h.renewed_at AS h_renewed_at,
               h.fencing_token AS h_fencing_token, h.reason AS h_reason, h.metadata AS h_metadata, h.source AS h_source,
               ${STUCK_REASON_SQL} AS stuck_reason
          FROM locks l LEFT JOIN tickets h ON h.id = l.holder_id
          ${w.sql()}
      )
      SELECT (SELECT count(*)::integer FROM f) AS total, now() AS at,
             COALESCE((
               SELECT jsonb_agg(to_jsonb(pg) ORDER BY pg.repository, pg.resource)
                 FROM (
                   SELECT f.*, q.id AS w_id, q.requester_id AS w_requester_id, q.requester_name AS w_requester_name,
                          q.created_at AS w_created_at, q.wait_deadline AS w_wait_deadline,
                          q.lease_duration_seconds AS w_lease_duration_seconds, q.reason AS w_reason, q.metadata AS w_metadata
                     FROM (SELECT * FROM f ORDER BY repository, resource LIMIT ${limitParam} OFFSET ${offsetParam}) f
                     LEFT JOIN LATERAL (
                       SELECT * FROM tickets t
                        WHERE f.queue_length > 0 AND t.lock_id = f.id AND t.status = 'queued'
                        ORDER BY t.seq LIMIT 1
                     ) q ON true
                 ) pg
             ), '[]'::jsonb) AS items`;
    const [row] = await this.pg.query<Raw>(statementName('admin_locks', text), text, w.values);
    return { total: row.total, at: new Date(row.at), rows: (row.items as Raw[]).map(toLockRow) };
  }

  /** The whole queue of one lock, in order. */
  async queue(lockId: number, limit: number): Promise<WaiterRow[]> {
    const rows = await this.pg.query<Raw>(
      'admin_lock_queue',
      `SELECT id AS w_id, requester_id AS w_requester_id, requester_name AS w_requester_name, created_at AS w_created_at,
              wait_deadline AS w_wait_deadline, lease_duration_seconds AS w_lease_duration_seconds, reason AS w_reason,
              metadata AS w_metadata
         FROM tickets WHERE lock_id = $1 AND status = 'queued' ORDER BY seq LIMIT $2`,
      [lockId, limit],
    );
    return rows.map((r) => toWaiter(r)!);
  }
}

function toWaiter(r: Raw): WaiterRow | null {
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
  };
}

function toLockRow(r: Raw): LockRow {
  return {
    lockId: Number(r.id),
    repository: r.repository,
    resource: r.resource,
    fence: Number(r.fence),
    queueLength: r.queue_length,
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
        }
      : null,
    nextWaiter: toWaiter(r),
  };
}
