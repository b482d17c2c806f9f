import { Injectable } from '@nestjs/common';
import { PgPool } from '../database/pg-pool';
import { LockChange, ticketFromRow } from './domain/ticket';
import { BatchStats, LockCall, LockCallBatcher } from './lock-call-batcher';
import { Actor, LockStore, LockSummary, QueueInput, QueueOutcome, TicketAnswer, UnlockStatus } from './lock-store';

type Raw = Record<string, any>;

function change(raw: Raw): LockChange {
  return {
    granted: ((raw.granted as Raw[]) ?? []).map(ticketFromRow),
    ended: ((raw.ended as Raw[]) ?? []).map(ticketFromRow),
  };
}

function answer<O extends string>(raw: Raw): TicketAnswer<O> {
  return { ...change(raw), outcome: raw.outcome as O, ticket: raw.ticket ? ticketFromRow(raw.ticket) : undefined };
}

/** The batch key of a lock: a batch lists its operations in this order (stable, so each lock keeps its arrival order). */
const lockKey = (repository: string, resource: string) => `${repository}\u0000${resource}`;

const iso = (now?: Date) => (now ? now.toISOString() : null);

/**
 * The lock store in PostgreSQL: every operation is one call of one SQL function of
 * src/mutex/sql, called with named arguments. Queue, settle and release, the calls every lock
 * cycle makes, go through a LockCallBatcher: concurrent ones share one `mutex_batch` call and
 * one transaction.
 */
@Injectable()
export class PostgresLockStore extends LockStore {
  readonly batcher: LockCallBatcher<Raw>;

  constructor(private readonly pg: PgPool) {
    super();
    this.batcher = new LockCallBatcher<Raw>(
      async (ops) => {
        const rows = await this.pg.query<{ r: Raw }>('mutex_batch', 'SELECT r FROM mutex_batch($1::jsonb) AS r', [JSON.stringify(ops)]);
        return rows.map((row) => row.r);
      },
      (a) => a.outcome === 'retry',
    );
  }

  /** One call of a function of src/mutex/sql that answers one jsonb. */
  private async call(name: string, sql: string, values: unknown[]): Promise<Raw> {
    const rows = await this.pg.query<{ r: Raw }>(name, sql, values);
    return rows[0].r;
  }

  /** Batched with concurrent operations when the lock is known up front; otherwise a call of its own. */
  private batched(repository: string | null | undefined, resource: string | null | undefined, op: Raw, alone: () => Promise<Raw>): Promise<Raw> {
    if (!repository || !resource) return alone();
    const call: LockCall<Raw> = { lockKey: lockKey(repository, resource), operation: op, alone };
    return this.batcher.run(call);
  }

  batchStats(): Readonly<BatchStats> {
    return this.batcher.stats;
  }

  async queue(i: QueueInput, now?: Date) {
    const args = [i.repository, i.resource, i.ticketId, i.requesterId, i.requesterName, i.owner, i.source, i.reason, i.metadata, i.leaseSeconds, i.waitSeconds, i.idempotencyKey, i.tryOnly, iso(now)];
    const op = {
      op: 'queue',
      repository: i.repository,
      resource: i.resource,
      ticketId: i.ticketId,
      requesterId: i.requesterId,
      requesterName: i.requesterName,
      owner: i.owner,
      source: i.source,
      reason: i.reason,
      metadata: i.metadata,
      leaseSeconds: i.leaseSeconds,
      waitSeconds: i.waitSeconds,
      idempotencyKey: i.idempotencyKey,
      try: i.tryOnly,
      now: iso(now),
    };
    const raw = await this.batched(i.repository, i.resource, op, () =>
      this.call(
        'mutex_queue_ticket',
        `SELECT mutex_queue_ticket(p_repository => $1, p_resource => $2, p_ticket_id => $3, p_requester_id => $4,
                p_requester_name => $5, p_owner => $6, p_source => $7, p_reason => $8, p_metadata => $9,
                p_lease_seconds => $10, p_wait_seconds => $11, p_idempotency_key => $12, p_try => $13, p_now => $14) AS r`,
        args,
      ),
    );
    return answer<QueueOutcome>(raw);
  }

  async settleTicket(ticketId: string, repository: string | null = null, resource: string | null = null, now?: Date) {
    const args = [ticketId, repository, resource, iso(now)];
    const raw = await this.batched(repository, resource, { op: 'settle', repository, resource, ticketId, now: iso(now) }, () =>
      this.call('mutex_settle_ticket', 'SELECT mutex_settle_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_now => $4) AS r', args),
    );
    return answer<'ok' | 'not_found'>(raw);
  }

  async release(ticketId: string, repository: string, resource: string, actor: Actor, now?: Date) {
    const args = [ticketId, repository, resource, actor.id, actor.name, iso(now)];
    const op = { op: 'release', repository, resource, ticketId, actorId: actor.id, actorName: actor.name, now: iso(now) };
    const raw = await this.batched(repository, resource, op, () =>
      this.call(
        'mutex_release_ticket',
        `SELECT mutex_release_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_actor_id => $4,
                p_actor_name => $5, p_now => $6) AS r`,
        args,
      ),
    );
    return answer<'ok' | 'not_found' | 'ended'>(raw);
  }

  async renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor, now?: Date) {
    const raw = await this.call(
      'mutex_renew_ticket',
      `SELECT mutex_renew_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_lease_seconds => $4,
              p_actor_id => $5, p_actor_name => $6, p_now => $7) AS r`,
      [ticketId, repository, resource, leaseSeconds, actor.id, actor.name, iso(now)],
    );
    return answer<'ok' | 'not_found' | 'not_holder'>(raw);
  }

  async clearLock(repository: string, resource: string, actor: Actor, now?: Date) {
    const raw = await this.call(
      'mutex_clear_lock',
      'SELECT mutex_clear_lock(p_repository => $1, p_resource => $2, p_actor_id => $3, p_actor_name => $4, p_now => $5) AS r',
      [repository, resource, actor.id, actor.name, iso(now)],
    );
    return change(raw);
  }

  async releaseOwner(repository: string, resource: string, owner: string, actor: Actor, now?: Date) {
    const raw = await this.call(
      'mutex_release_owner',
      `SELECT mutex_release_owner(p_repository => $1, p_resource => $2, p_owner => $3, p_actor_id => $4,
              p_actor_name => $5, p_now => $6) AS r`,
      [repository, resource, owner, actor.id, actor.name, iso(now)],
    );
    return { ...change(raw), status: raw.status as UnlockStatus };
  }

  async settleLock(repository: string, resource: string, now?: Date) {
    return change(await this.call('mutex_settle_lock', 'SELECT mutex_settle_lock(p_repository => $1, p_resource => $2, p_now => $3) AS r', [repository, resource, iso(now)]));
  }

  async sweep(limit: number, now?: Date) {
    return change(await this.call('mutex_sweep', 'SELECT mutex_sweep(p_limit => $1, p_now => $2) AS r', [limit, iso(now)]));
  }

  async nextDeadlineIn(now?: Date): Promise<number | null> {
    const [row] = await this.pg.query<{ ms: number | null }>('mutex_next_deadline_in', 'SELECT mutex_next_deadline_in(p_now => $1) AS ms', [iso(now)]);
    return row.ms === null ? null : Number(row.ms);
  }

  async list(repository: string, resource: string, retentionSeconds: number, limit: number, now?: Date) {
    const rows = await this.pg.query<{ r: Raw }>(
      'mutex_list',
      `SELECT mutex_ticket_json(t, l) AS r
         FROM locks l JOIN tickets t ON t.lock_id = l.id
        WHERE l.repository = $1 AND l.resource = $2
          AND (t.status <> 'released' OR t.released_at > coalesce($5::timestamptz, clock_timestamp()) - make_interval(secs => $3))
        ORDER BY CASE t.status WHEN 'acquired' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,
                 CASE WHEN t.status = 'queued' THEN t.seq END ASC,
                 t.released_at DESC, t.seq DESC
        LIMIT $4`,
      [repository, resource, retentionSeconds, limit, iso(now)],
    );
    return rows.map((row) => ticketFromRow(row.r));
  }

  async locksIn(repository: string, limit: number): Promise<LockSummary[]> {
    const rows = await this.pg.query<Raw>(
      'mutex_locks_in',
      `SELECT l.repository, l.resource, l.fence, l.queue_length, l.updated_at,
              CASE WHEN h.id IS NULL THEN NULL ELSE mutex_ticket_json(h, l) END AS holder
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

  async purgeReleased(retentionSeconds: number, now?: Date): Promise<number> {
    const rows = await this.pg.query<{ n: number }>(
      'mutex_purge',
      `WITH gone AS (
         DELETE FROM tickets WHERE id IN (
           SELECT t.id FROM tickets t
            WHERE t.status = 'released' AND t.released_at < coalesce($2::timestamptz, clock_timestamp()) - make_interval(secs => $1)
              -- a waiter that left is kept while the head has not passed it: positions count it
              AND (t.lease_start IS NOT NULL OR t.ordinal <= (SELECT l.passed FROM locks l WHERE l.id = t.lock_id))
            LIMIT 10000)
         RETURNING 1)
       SELECT count(*)::integer AS n FROM gone`,
      [retentionSeconds, iso(now)],
    );
    return rows[0].n;
  }
}
