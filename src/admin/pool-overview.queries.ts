import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { poolFromRow } from '../mutex/postgres-lock-store';
import { PoolView } from '../mutex/lock-store';
import { escapeLike } from './repository-patterns';
import { SqlWhereBuilder, statementName } from './sql-where.builder';

export interface PoolFilter {
  /** LIKE patterns of the caller's key; null for every repository. */
  repositoryLike: string[] | null;
  repository?: string;
  prefix?: string;
  contains?: string;
  active?: boolean;
}

export interface PoolPage {
  total: number;
  /** Database time of the read. */
  at: Date;
  pools: PoolView[];
}

type Raw = Record<string, any>;

/**
 * Read-only queries over the pools of every repository, for the owner's view; each pool is read
 * by mutex_pool_view, as GET /sfp/api/pools reads it. It never changes a lock.
 */
@Injectable()
export class PoolOverviewQueries {
  constructor(private readonly pg: PgPool) {}

  async page(filter: PoolFilter, limit: number, offset: number): Promise<PoolPage> {
    const w = new SqlWhereBuilder();
    if (filter.repositoryLike) w.and((p) => `p.repository LIKE ANY(${p(filter.repositoryLike)}::text[])`);
    if (filter.repository !== undefined) w.and((p) => `p.repository = ${p(filter.repository)}`);
    if (filter.prefix !== undefined) w.and((p) => `p.name LIKE ${p(escapeLike(filter.prefix!) + '%')}`);
    if (filter.contains !== undefined) {
      w.and((p) => {
        const needle = p('%' + escapeLike(filter.contains!) + '%');
        return `(p.name ILIKE ${needle} OR p.repository ILIKE ${needle}
                 OR EXISTS (SELECT 1 FROM pool_members m JOIN locks l ON l.id = m.lock_id WHERE m.pool_id = p.id AND l.resource ILIKE ${needle}))`;
      });
    }
    if (filter.active) {
      w.and(
        () => `(EXISTS (SELECT 1 FROM tickets t WHERE t.pool_id = p.id AND t.status = 'queued')
                OR EXISTS (SELECT 1 FROM pool_members m JOIN locks l ON l.id = m.lock_id WHERE m.pool_id = p.id AND l.holder_id IS NOT NULL))`,
      );
    }
    const text = `
      WITH f AS (SELECT p.repository, p.name FROM pools p ${w.sql()})
      SELECT (SELECT count(*)::integer FROM f) AS total, now() AS at,
             COALESCE((
               SELECT jsonb_agg(mutex_pool_view(pg.repository, pg.name) ORDER BY pg.repository, pg.name)
                 FROM (SELECT * FROM f ORDER BY repository, name LIMIT ${w.param(limit)} OFFSET ${w.param(offset)}) pg
             ), '[]'::jsonb) AS items`;
    const [row] = await this.pg.query<Raw>(statementName('admin_pools', text), text, w.values);
    return { total: row.total, at: new Date(row.at), pools: (row.items as Raw[]).map(poolFromRow) };
  }
}
