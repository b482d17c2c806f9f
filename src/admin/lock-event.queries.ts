import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { SqlWhereBuilder, statementName } from './sql-where.builder';

export interface EventFilter {
  repositoryLike: string[] | null;
  repository?: string;
  resource?: string;
  pool?: string;
  actorId?: string;
  actorName?: string;
  types?: string[];
  from?: Date;
  to?: Date;
  /** Only events with a smaller id (the previous page's last id). */
  before?: string;
}

export interface EventRow {
  id: number;
  type: string;
  repository: string;
  resource: string;
  /** A set's or pool ticket's resources (null for a ticket of one resource, and while a pool ticket waits). */
  resources: string[] | null;
  pool: string | null;
  ticketId: string | null;
  actorId: string | null;
  actorName: string | null;
  fencingToken: number | null;
  reason: string | null;
  /** The ticket's metadata (empty once the ticket is purged). */
  metadata: Record<string, string>;
  at: Date;
}

type Raw = Record<string, any>;

/** Read-only queries over the audit trail `lock_events`, newest first (id descending). */
@Injectable()
export class LockEventQueries {
  constructor(private readonly pg: PgPool) {}

  async page(filter: EventFilter, limit: number): Promise<EventRow[]> {
    // Placeholders only: the conditions are assembled here, as a one-lock page has two parts.
    const w = new SqlWhereBuilder();
    const common: string[] = [];
    const and = (condition: string) => common.push(condition);
    if (filter.repository !== undefined && filter.resource === undefined) and(`e.repository = ${w.param(filter.repository)}`);
    if (filter.resource !== undefined && filter.repository === undefined) {
      // A set's or pool ticket's event names its first resource in `resource`, every one in `resources`.
      const r = w.param(filter.resource);
      and(`(e.resource = ${r} OR e.resources @> ARRAY[${r}]::text[])`);
    }
    if (filter.pool !== undefined) and(`e.pool = ${w.param(filter.pool)}`);
    if (filter.repositoryLike) and(`e.repository LIKE ANY(${w.param(filter.repositoryLike)}::text[])`);
    if (filter.actorId !== undefined) and(`e.actor_id = ${w.param(filter.actorId)}::uuid`);
    if (filter.actorName !== undefined) and(`e.actor_name = ${w.param(filter.actorName)}`);
    if (filter.types?.length) and(`e.type::text = ANY(${w.param(filter.types)}::text[])`);
    if (filter.from) and(`e.at >= ${w.param(filter.from)}`);
    if (filter.to) and(`e.at < ${w.param(filter.to)}`);
    if (filter.before !== undefined) and(`e.id < ${w.param(filter.before)}::bigint`);
    const limitParam = w.param(limit);
    const columns = `e.id, e.type, e.repository, e.resource, e.resources, e.pool, e.ticket_id, e.actor_id, e.actor_name, e.fencing_token, e.reason, e.at`;
    const where = (...more: string[]) => {
      const all = [...more, ...common];
      return all.length ? `WHERE ${all.join(' AND ')}` : '';
    };
    let events: string;
    if (filter.repository !== undefined && filter.resource !== undefined) {
      // One lock's events: those whose first resource it is, by lock id ((lock_id, id DESC) is
      // indexed), and those of sets that name it later, found by their `resources` (not indexed:
      // a walk of lock_events, newest first, until a page is found). Each part is a page; their
      // merge is the page.
      const lock = `(SELECT id FROM locks WHERE repository = ${w.param(filter.repository)} AND resource = ${w.param(filter.resource)})`;
      const name = w.param(filter.resource);
      events = `
        (SELECT ${columns} FROM lock_events e ${where(`e.lock_id = ${lock}`)} ORDER BY e.id DESC LIMIT ${limitParam})
        UNION ALL
        (SELECT ${columns} FROM lock_events e
          ${where(`e.resources @> ARRAY[${name}]::text[]`, `e.repository = ${w.param(filter.repository)}`, `e.lock_id IS DISTINCT FROM ${lock}`)}
          ORDER BY e.id DESC LIMIT ${limitParam})`;
    } else {
      events = `SELECT ${columns} FROM lock_events e ${where()} ORDER BY e.id DESC LIMIT ${limitParam}`;
    }
    const text = `
      SELECT e.*, (SELECT t.metadata FROM tickets t WHERE t.id = e.ticket_id) AS metadata
        FROM (${events}) e
       ORDER BY e.id DESC
       LIMIT ${limitParam}`;
    const rows = await this.pg.query<Raw>(statementName('admin_events', text), text, w.values);
    return rows.map((r) => ({
      id: Number(r.id),
      type: r.type,
      repository: r.repository,
      resource: r.resource,
      resources: r.resources ?? null,
      pool: r.pool ?? null,
      ticketId: r.ticket_id,
      actorId: r.actor_id,
      actorName: r.actor_name,
      fencingToken: r.fencing_token === null ? null : Number(r.fencing_token),
      reason: r.reason,
      metadata: r.metadata ?? {},
      at: r.at,
    }));
  }
}
