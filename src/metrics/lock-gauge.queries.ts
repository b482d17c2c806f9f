import { Injectable } from '@nestjs/common';
import { STUCK_REASON_SQL } from '../admin/stuck-rule';
import { PgPool } from '../database/pg-pool';

export interface LockGaugeRow {
  repository: string;
  resource: string;
  queueDepth: number;
  holders: number;
}

export interface LockGauges {
  held: number;
  waiting: number;
  stuck: number;
  /** The busiest locks only, so the label set stays bounded. */
  locks: LockGaugeRow[];
}

/** Per-lock series are kept for at most this many locks (most waiters first). */
export const LOCK_SERIES_LIMIT = 1_000;

/**
 * One cheap read per scrape: only active locks are visited, the held ones and those with queued
 * tickets (found through the tickets_queue index).
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
                         UNION SELECT lock_id FROM tickets WHERE status = 'queued')
       )
       SELECT (SELECT count(*) FILTER (WHERE held)::integer FROM a) AS held,
              (SELECT COALESCE(sum(queue_length), 0)::integer FROM a) AS waiting,
              (SELECT count(*) FILTER (WHERE stuck)::integer FROM a) AS stuck,
              COALESCE((SELECT jsonb_agg(jsonb_build_array(repository, resource, queue_length, held::int))
                          FROM (SELECT * FROM a ORDER BY queue_length DESC, held DESC, repository, resource LIMIT $1) top), '[]'::jsonb) AS locks`,
      [LOCK_SERIES_LIMIT],
    );
    return {
      held: row.held,
      waiting: row.waiting,
      stuck: row.stuck,
      locks: (row.locks as [string, string, number, number][]).map(([repository, resource, queueDepth, holders]) => ({ repository, resource, queueDepth, holders })),
    };
  }
}
