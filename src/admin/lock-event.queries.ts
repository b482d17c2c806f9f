import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';

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

/**
 * Read-only queries over the audit trail, newest first (id descending): the tickets' own events
 * and lock_events, paged by mutex_audit_page (src/mutex/sql/85-audit.sql).
 */
@Injectable()
export class LockEventQueries {
  constructor(private readonly pg: PgPool) {}

  async page(filter: EventFilter, limit: number): Promise<EventRow[]> {
    const f: Record<string, unknown> = {};
    if (filter.repository !== undefined) f.repository = filter.repository;
    if (filter.resource !== undefined) f.resource = filter.resource;
    if (filter.pool !== undefined) f.pool = filter.pool;
    if (filter.repositoryLike) f.repositoryLike = filter.repositoryLike;
    if (filter.actorId !== undefined) f.actorId = filter.actorId;
    if (filter.actorName !== undefined) f.actorName = filter.actorName;
    if (filter.types?.length) f.types = filter.types;
    if (filter.from) f.from = filter.from.toISOString();
    if (filter.to) f.to = filter.to.toISOString();
    const rows = await this.pg.query<Raw>(
      'admin_events',
      `SELECT e.*, (SELECT t.metadata FROM tickets t WHERE t.id = e.ticket_id) AS metadata
         FROM mutex_audit_page($1::jsonb, $2::bigint, $3) e`,
      [JSON.stringify(f), filter.before ?? null, limit],
    );
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
