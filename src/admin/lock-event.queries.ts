import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { SqlWhereBuilder, statementName } from './sql-where.builder';

export interface EventFilter {
  repositoryLike: string[] | null;
  repository?: string;
  resource?: string;
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
    const w = new SqlWhereBuilder();
    // By lock id where we can: (lock_id, id DESC) is indexed, the names are not.
    if (filter.repository !== undefined && filter.resource !== undefined) {
      w.and((p) => `e.lock_id = (SELECT id FROM locks WHERE repository = ${p(filter.repository)} AND resource = ${p(filter.resource)})`);
    } else if (filter.repository !== undefined) {
      w.and((p) => `e.repository = ${p(filter.repository)}`);
    } else if (filter.resource !== undefined) {
      w.and((p) => `e.resource = ${p(filter.resource)}`);
    }
    if (filter.repositoryLike) w.and((p) => `e.repository LIKE ANY(${p(filter.repositoryLike)}::text[])`);
    if (filter.actorId !== undefined) w.and((p) => `e.actor_id = ${p(filter.actorId)}::uuid`);
    if (filter.actorName !== undefined) w.and((p) => `e.actor_name = ${p(filter.actorName)}`);
    if (filter.types?.length) w.and((p) => `e.type::text = ANY(${p(filter.types)}::text[])`);
    if (filter.from) w.and((p) => `e.at >= ${p(filter.from)}`);
    if (filter.to) w.and((p) => `e.at < ${p(filter.to)}`);
    if (filter.before !== undefined) w.and((p) => `e.id < ${p(filter.before)}::bigint`);
    const text = `
      SELECT e.id, e.type, e.repository, e.resource, e.ticket_id, e.actor_id, e.actor_name, e.fencing_token, e.reason, e.at,
             (SELECT t.metadata FROM tickets t WHERE t.id = e.ticket_id) AS metadata
        FROM lock_events e
        ${w.sql()}
       ORDER BY e.id DESC
       LIMIT ${w.param(limit)}`;
    const rows = await this.pg.query<Raw>(statementName('admin_events', text), text, w.values);
    return rows.map((r) => ({
      id: Number(r.id),
      type: r.type,
      repository: r.repository,
      resource: r.resource,
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
