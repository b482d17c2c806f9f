import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { LockChange, Ticket, ticketFromRow } from './domain/ticket';
import { BatchStats, LockCall, LockCallBatcher } from './lock-call-batcher';

export interface EnqueueInput {
  repository: string;
  resource: string;
  ticketId: string;
  requesterId: string;
  requesterName: string;
  owner: string | null;
  source: 'sfp' | 'dapr' | 'synchronize';
  reason: string | null;
  leaseSeconds: number;
  waitSeconds: number | null;
  idempotencyKey: string | null;
  /** Try-lock: only if free with nobody waiting; never leaves a ticket. */
  tryOnly: boolean;
}

export type EnqueueOutcome = 'ok' | 'busy' | 'replayed' | 'idempotency_mismatch';
export type TicketOutcome = 'ok' | 'not_found' | 'ended' | 'not_holder';

export interface Actor {
  id: string;
  name: string;
}

export interface LockSummary {
  repository: string;
  resource: string;
  fence: number;
  queueLength: number;
  holder: Ticket | null;
  updatedAt: Date;
}

/** The port to the lock store. Every method is one atomic, linearizable change or read. */
export abstract class MutexRepository {
  abstract enqueue(input: EnqueueInput): Promise<LockChange & { outcome: EnqueueOutcome; ticket?: Ticket }>;
  abstract status(ticketId: string, repository: string | null, resource: string | null): Promise<LockChange & { outcome: TicketOutcome; ticket?: Ticket }>;
  abstract release(ticketId: string, repository: string | null, resource: string | null, actor: Actor): Promise<LockChange & { outcome: TicketOutcome; ticket?: Ticket }>;
  abstract renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor): Promise<LockChange & { outcome: TicketOutcome; ticket?: Ticket }>;
  abstract clear(repository: string, resource: string, actor: Actor): Promise<LockChange>;
  abstract unlockOwner(repository: string, resource: string, owner: string, actor: Actor): Promise<LockChange & { status: 0 | 1 | 2 }>;
  abstract check(ticketId: string): Promise<LockChange>;
  abstract sweep(limit: number): Promise<LockChange>;
  /** Milliseconds until the earliest lease end or wait limit of any lock, by the database's clock (null: none). */
  abstract nextDeadlineIn(): Promise<number | null>;
  abstract settleIfDue(repository: string, resource: string): Promise<LockChange>;
  abstract list(repository: string, resource: string, retentionSeconds: number, limit: number): Promise<Ticket[]>;
  abstract locksIn(repository: string, limit: number): Promise<LockSummary[]>;
  abstract purgeReleased(retentionSeconds: number): Promise<number>;
  /** How concurrent operations were grouped into database calls (null: not batched). */
  abstract batchStats(): Readonly<BatchStats> | null;
}

type Raw = Record<string, any>;

function change(raw: Raw): LockChange {
  return {
    granted: ((raw.granted as Raw[]) ?? []).map(ticketFromRow),
    ended: ((raw.ended as Raw[]) ?? []).map(ticketFromRow),
  };
}

function withTicket<O extends string>(raw: Raw): LockChange & { outcome: O; ticket?: Ticket } {
  return { ...change(raw), outcome: raw.outcome as O, ticket: raw.ticket ? ticketFromRow(raw.ticket) : undefined };
}

/** The batch key of a lock: a batch lists its operations in this order (stable, so each lock keeps its arrival order). */
const lockKey = (repository: string, resource: string) => `${repository}\u0000${resource}`;

/**
 * PostgreSQL implementation: every operation is one call of one SQL function (see the mutex
 * migrations). Queue, status and release, the calls every lock cycle makes, go through a
 * LockCallBatcher: concurrent ones share one `mutex_batch` call and one transaction.
 */
@Injectable()
export class PgMutexRepository extends MutexRepository {
  readonly batcher: LockCallBatcher<Raw>;

  constructor(private readonly pg: PgPool) {
    super();
    this.batcher = new LockCallBatcher<Raw>(
      async (ops) => {
        const rows = await this.pg.query<{ r: Raw }>('mutex_batch', 'SELECT r FROM mutex_batch($1::jsonb) AS r', [JSON.stringify(ops)]);
        return rows.map((row) => row.r);
      },
      (answer) => answer.outcome === 'retry',
    );
  }

  private async call(name: string, sql: string, values: unknown[]): Promise<Raw> {
    const rows = await this.pg.query<{ r: Raw }>(name, sql, values);
    return rows[0].r;
  }

  /** Batched when the lock is known up front; otherwise a call of its own. */
  private batched(repository: string | null, resource: string | null, batchArgs: unknown[], alone: () => Promise<Raw>): Promise<Raw> {
    if (repository === null || resource === null) return alone();
    const call: LockCall<Raw> = { lockKey: lockKey(repository, resource), batchArgs, alone };
    return this.batcher.run(call);
  }

  batchStats(): Readonly<BatchStats> {
    return this.batcher.stats;
  }

  async enqueue(i: EnqueueInput) {
    const args = [i.repository, i.resource, i.ticketId, i.requesterId, i.requesterName, i.owner, i.source, i.reason, i.leaseSeconds, i.waitSeconds, i.idempotencyKey, i.tryOnly];
    const raw = await this.batched(i.repository, i.resource, ['enqueue', ...args], () =>
      this.call('mutex_enqueue', 'SELECT mutex_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) AS r', args),
    );
    return withTicket<EnqueueOutcome>(raw);
  }

  async status(ticketId: string, repository: string | null, resource: string | null) {
    const args = [ticketId, repository, resource];
    const raw = await this.batched(repository, resource, ['status', ...args], () => this.call('mutex_status', 'SELECT mutex_status($1, $2, $3) AS r', args));
    return withTicket<TicketOutcome>(raw);
  }

  async release(ticketId: string, repository: string | null, resource: string | null, actor: Actor) {
    const args = [ticketId, repository, resource, actor.id, actor.name];
    const raw = await this.batched(repository, resource, ['release', ...args], () =>
      this.call('mutex_release', 'SELECT mutex_release($1, $2, $3, $4, $5) AS r', args),
    );
    return withTicket<TicketOutcome>(raw);
  }

  async renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor) {
    return withTicket<TicketOutcome>(
      await this.call('mutex_renew', 'SELECT mutex_renew($1, $2, $3, $4, $5, $6) AS r', [ticketId, repository, resource, leaseSeconds, actor.id, actor.name]),
    );
  }

  async clear(repository: string, resource: string, actor: Actor) {
    return change(await this.call('mutex_clear', 'SELECT mutex_clear($1, $2, $3, $4) AS r', [repository, resource, actor.id, actor.name]));
  }

  async unlockOwner(repository: string, resource: string, owner: string, actor: Actor) {
    const raw = await this.call('mutex_unlock_owner', 'SELECT mutex_unlock_owner($1, $2, $3, $4, $5) AS r', [repository, resource, owner, actor.id, actor.name]);
    return { ...change(raw), status: raw.status as 0 | 1 | 2 };
  }

  async check(ticketId: string) {
    return change(await this.call('mutex_check', 'SELECT mutex_check($1) AS r', [ticketId]));
  }

  async sweep(limit: number) {
    return change(await this.call('mutex_sweep', 'SELECT mutex_sweep($1) AS r', [limit]));
  }

  async nextDeadlineIn(): Promise<number | null> {
    // Two index-only min() probes (tickets_lease_due, tickets_wait_due).
    const [row] = await this.pg.query<{ ms: number | null }>(
      'mutex_next_deadline',
      `SELECT (EXTRACT(EPOCH FROM LEAST(
                 (SELECT min(lease_expires_at) FROM tickets WHERE status = 'acquired'),
                 (SELECT min(wait_deadline) FROM tickets WHERE status = 'queued' AND wait_deadline IS NOT NULL)
               ) - clock_timestamp()) * 1000)::float8 AS ms`,
      [],
    );
    return row.ms === null ? null : Number(row.ms);
  }

  async settleIfDue(repository: string, resource: string) {
    return change(await this.call('mutex_settle_if_due', 'SELECT mutex_settle_if_due($1, $2) AS r', [repository, resource]));
  }

  async list(repository: string, resource: string, retentionSeconds: number, limit: number): Promise<Ticket[]> {
    // Holder first, then the queue in order, then recently released tickets, newest first.
    const rows = await this.pg.query<{ r: Raw }>(
      'mutex_list',
      `SELECT mutex_ticket_json(t, l.repository, l.resource,
                CASE t.status WHEN 'acquired' THEN 0
                              WHEN 'queued' THEN (row_number() OVER (PARTITION BY t.status = 'queued' ORDER BY t.seq))::integer
                              ELSE NULL END) AS r
         FROM locks l JOIN tickets t ON t.lock_id = l.id
        WHERE l.repository = $1 AND l.resource = $2
          AND (t.status <> 'released' OR t.released_at > clock_timestamp() - make_interval(secs => $3))
        ORDER BY CASE t.status WHEN 'acquired' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,
                 CASE WHEN t.status = 'queued' THEN t.seq END ASC,
                 t.released_at DESC
        LIMIT $4`,
      [repository, resource, retentionSeconds, limit],
    );
    return rows.map((row) => ticketFromRow(row.r));
  }

  async locksIn(repository: string, limit: number): Promise<LockSummary[]> {
    const rows = await this.pg.query<Raw>(
      'mutex_locks_in',
      `SELECT l.repository, l.resource, l.fence, l.queue_length, l.updated_at,
              CASE WHEN h.id IS NULL THEN NULL ELSE mutex_ticket_json(h, l.repository, l.resource, 0) END AS holder
         FROM locks l LEFT JOIN tickets h ON h.id = l.holder_id
        WHERE l.repository = $1
        ORDER BY l.resource
        LIMIT $2`,
      [repository, limit],
    );
    return rows.map((r) => ({
      repository: r.repository,
      resource: r.resource,
      fence: Number(r.fence),
      queueLength: r.queue_length,
      holder: r.holder ? ticketFromRow(r.holder) : null,
      updatedAt: new Date(r.updated_at),
    }));
  }

  async purgeReleased(retentionSeconds: number): Promise<number> {
    const rows = await this.pg.query<{ n: number }>(
      'mutex_purge',
      `WITH gone AS (
         DELETE FROM tickets WHERE id IN (
           SELECT t.id FROM tickets t
            WHERE t.status = 'released' AND t.released_at < clock_timestamp() - make_interval(secs => $1)
              -- a waiter that left is kept while the head has not passed it: positions count it
              AND (t.lease_start IS NOT NULL OR t.ordinal <= (SELECT l.passed FROM locks l WHERE l.id = t.lock_id))
            LIMIT 10000)
         RETURNING 1)
       SELECT count(*)::integer AS n FROM gone`,
      [retentionSeconds],
    );
    return rows[0].n;
  }
}
