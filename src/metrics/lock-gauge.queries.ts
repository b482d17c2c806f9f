import { Injectable } from '@nestjs/common';
import { STUCK_REASON_SQL } from '../admin/stuck-rule';
import { PgPool } from '../database/pg-pool';

export interface LockGaugeRow {
  repository: string;
  resource: string;
  queueDepth: number;
  holders: number;
}

export interface PoolGaugeRow {
  repository: string;
  pool: string;
  free: number;
  held: number;
  /** Its waiting tickets. */
  waiting: number;
}

/** single: one resource by name; set: several by name; pool: members of a pool. */
export const TICKET_KINDS = ['single', 'set', 'pool'] as const;
export type TicketKind = (typeof TICKET_KINDS)[number];

export interface LockGauges {
  held: number;
  /** Tickets waiting, each once (a set's ticket is in the queue of each of its locks, but waits once). */
  waiting: number;
  waitingByKind: Record<TicketKind, number>;
  holdingByKind: Record<TicketKind, number>;
  stuck: number;
  /** The busiest locks only, so the label set stays bounded. */
  locks: LockGaugeRow[];
  /** The busiest pools only, so the label set stays bounded. */
  pools: PoolGaugeRow[];
}

/** Per-lock series are kept for at most this many locks (most waiters first). */
export const LOCK_SERIES_LIMIT = 1_000;
/** Per-pool series are kept for at most this many pools (most waiters first, then most held). */
export const POOL_SERIES_LIMIT = 1_000;

/** A ticket's kind, in SQL, as the admin views tell it (`t` is a tickets row). */
const KIND_SQL = `CASE WHEN t.pool_id IS NOT NULL THEN 'pool' WHEN t.lock_count > 1 THEN 'set' ELSE 'single' END`;

/**
 * One cheap read per scrape: only active locks are visited, the held ones and those with queued
 * tickets (found through the tickets_queue index; a set's later locks through ticket_locks), and
 * the pools (owners define them: there are few).
 */
@Injectable()
export class LockGaugeQueries {
  constructor(private readonly pg: PgPool) {}

  async read(): Promise<LockGauges> {
    const [row] = await this.pg.query<Record<string, any>>(
      'metrics_lock_gauges',
      `WITH a AS (
         SELECT l.repository, l.resource, l.queue_length, l.holder_id IS NOT NULL AS held,
                (${STUCK_REASON_SQL}) IS NOT NULL AS stuck
           FROM locks l LEFT JOIN tickets h ON h.id = l.holder_id
          WHERE l.id IN (SELECT id FROM locks WHERE holder_id IS NOT NULL
                         UNION SELECT lock_id FROM tickets WHERE status = 'queued'
                         UNION SELECT x.lock_id FROM tickets t JOIN ticket_locks x ON x.ticket_id = t.id
                                WHERE t.status = 'queued' AND t.lock_count > 1 AND t.pool_id IS NULL)
       ), p AS (
         SELECT p.repository, p.name,
                count(*) FILTER (WHERE l.holder_id IS NULL)::integer AS free,
                count(*) FILTER (WHERE l.holder_id IS NOT NULL)::integer AS held,
                (SELECT count(*)::integer FROM tickets t WHERE t.pool_id = p.id AND t.status = 'queued') AS waiting
           FROM pools p JOIN pool_members m ON m.pool_id = p.id JOIN locks l ON l.id = m.lock_id
          GROUP BY p.id
       )
       SELECT (SELECT count(*) FILTER (WHERE held)::integer FROM a) AS held,
              (SELECT count(*) FILTER (WHERE stuck)::integer FROM a) AS stuck,
              (SELECT jsonb_object_agg(kind, n) FROM (SELECT ${KIND_SQL} AS kind, count(*)::integer AS n FROM tickets t WHERE t.status = 'queued' GROUP BY 1) k) AS waiting,
              (SELECT jsonb_object_agg(kind, n) FROM (SELECT ${KIND_SQL} AS kind, count(*)::integer AS n FROM tickets t WHERE t.status = 'acquired' GROUP BY 1) k) AS holding,
              COALESCE((SELECT jsonb_agg(jsonb_build_array(repository, resource, queue_length, held::int))
                          FROM (SELECT * FROM a ORDER BY queue_length DESC, held DESC, repository, resource LIMIT $1) top), '[]'::jsonb) AS locks,
              COALESCE((SELECT jsonb_agg(jsonb_build_array(repository, name, free, held, waiting))
                          FROM (SELECT * FROM p ORDER BY waiting DESC, held DESC, repository, name LIMIT $2) top), '[]'::jsonb) AS pools`,
      [LOCK_SERIES_LIMIT, POOL_SERIES_LIMIT],
    );
    const byKind = (counts: Record<string, number> | null) => Object.fromEntries(TICKET_KINDS.map((k) => [k, counts?.[k] ?? 0])) as Record<TicketKind, number>;
    const waitingByKind = byKind(row.waiting);
    return {
      held: row.held,
      waiting: TICKET_KINDS.reduce((sum, k) => sum + waitingByKind[k], 0),
      waitingByKind,
      holdingByKind: byKind(row.holding),
      stuck: row.stuck,
      locks: (row.locks as [string, string, number, number][]).map(([repository, resource, queueDepth, holders]) => ({ repository, resource, queueDepth, holders })),
      pools: (row.pools as [string, string, number, number, number][]).map(([repository, pool, free, held, waiting]) => ({ repository, pool, free, held, waiting })),
    };
  }
}
