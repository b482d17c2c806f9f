import { Injectable, Optional } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { PgPool } from '../database/pg-pool';
import { LockChange, ticketFromRow } from './domain/ticket';
import { BatchedCall, BatchStats, CallBatcher } from '../database/call-batcher';
import { Actor, LockStore, LockSummary, PoolView, PutPoolOutcome, QueueAnswer, QueueInput, QueueOutcome, TicketAnswer, UnlockStatus } from './lock-store';

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

/** A pool from mutex_pool_view's JSON (80-reads.sql); the owner's pool overview reads the same. */
export function poolFromRow(raw: Raw): PoolView {
  return {
    repository: raw.repository,
    name: raw.name,
    description: raw.description ?? null,
    members: (raw.members as Raw[]).map((m) => ({ resource: m.resource, fence: Number(m.fence), holder: m.holder ? ticketFromRow(m.holder) : null })),
    queue: (raw.queue as Raw[]).map(ticketFromRow),
    createdAt: new Date(raw.created_at),
    updatedAt: new Date(raw.updated_at),
  };
}

/** The batch key of a lock: a batch lists its operations in this order (stable, so each lock keeps its arrival order). */
const lockKey = (repository: string, resource: string) => `${repository}\u0000${resource}`;

const iso = (now?: Date) => (now ? now.toISOString() : null);

/** Pages of tickets one purge statement reads, and one purge call at most (64 MiB). */
const PURGE_SLICE_PAGES = 1024;
const PURGE_PAGES_PER_CALL = 8192;

/**
 * The lock store in PostgreSQL: every operation is one call of one SQL function of
 * src/mutex/sql, called with named arguments. Queue, settle and release, the calls every lock
 * cycle makes, go through a CallBatcher: concurrent ones share one `mutex_batch` call and
 * one transaction.
 *
 * An operation on a coupled lock (a set's or a pool's: 25-coupled.sql) needs its repository's
 * lock; when that is taken and the call already holds a row lock, it answers 'retry' without
 * doing anything, and is called again with `p_wait`, which takes the repository's lock first.
 */
@Injectable()
export class PostgresLockStore extends LockStore {
  readonly batcher: CallBatcher<Raw>;
  /** Where the next purge call goes on reading the tickets (a heap page). */
  private purgeFrom = 0;

  constructor(
    private readonly pg: PgPool,
    @Optional() config?: AppConfig,
  ) {
    super();
    this.batcher = new CallBatcher<Raw>(
      async (ops) => {
        const rows = await this.pg.query<{ r: Raw }>('mutex_batch', 'SELECT r FROM mutex_batch($1::jsonb) AS r', [JSON.stringify(ops)]);
        return rows.map((row) => row.r);
      },
      { runAlone: (a) => a.outcome === 'retry', maxInFlight: config?.DATABASE_BATCH_LANES },
    );
  }

  /** One call of a function of src/mutex/sql that answers one jsonb. */
  private async call(name: string, sql: string, values: unknown[]): Promise<Raw> {
    const rows = await this.pg.query<{ r: Raw }>(name, sql, values);
    return rows[0].r;
  }

  /**
   * A call whose last argument is p_wait: first without waiting for a repository's lock; if it
   * answers 'retry', again, waiting for it (it then takes that lock before any row lock).
   */
  private async callWaiting(name: string, sql: string, values: unknown[]): Promise<Raw> {
    const first = await this.call(name, sql, [...values, false]);
    return first.outcome === 'retry' ? this.call(name, sql, [...values, true]) : first;
  }

  /** Batched with concurrent operations when the lock is known up front; otherwise a call of its own. */
  private batched(repository: string | null | undefined, resource: string | null | undefined, op: Raw, alone: () => Promise<Raw>): Promise<Raw> {
    if (!repository || !resource) return alone();
    const call: BatchedCall<Raw> = { key: lockKey(repository, resource), operation: op, alone };
    return this.batcher.run(call);
  }

  batchStats(): Readonly<BatchStats> {
    return this.batcher.stats;
  }

  async queue(i: QueueInput, now?: Date): Promise<QueueAnswer> {
    if (i.pool || i.resources.length !== 1) {
      const raw = await this.call(
        'mutex_queue_many',
        `SELECT mutex_queue_many(p_repository => $1, p_resources => $2, p_pool => $3, p_count => $4, p_ticket_id => $5,
                p_requester_id => $6, p_requester_name => $7, p_owner => $8, p_source => $9, p_reason => $10, p_metadata => $11,
                p_lease_seconds => $12, p_wait_seconds => $13, p_idempotency_key => $14, p_try => $15, p_now => $16) AS r`,
        [i.repository, i.resources, i.pool?.name ?? null, i.pool?.count ?? null, i.ticketId, i.requesterId, i.requesterName, i.owner, i.source, i.reason, i.metadata, i.leaseSeconds, i.waitSeconds, i.idempotencyKey, i.tryOnly, iso(now)],
      );
      return { ...answer<QueueOutcome>(raw), name: raw.name, size: raw.size };
    }
    const [resource] = i.resources;
    const args = [i.repository, resource, i.ticketId, i.requesterId, i.requesterName, i.owner, i.source, i.reason, i.metadata, i.leaseSeconds, i.waitSeconds, i.idempotencyKey, i.tryOnly, iso(now)];
    const op = {
      op: 'queue',
      repository: i.repository,
      resource,
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
    const raw = await this.batched(i.repository, resource, op, () =>
      this.callWaiting(
        'mutex_queue_ticket',
        `SELECT mutex_queue_ticket(p_repository => $1, p_resource => $2, p_ticket_id => $3, p_requester_id => $4,
                p_requester_name => $5, p_owner => $6, p_source => $7, p_reason => $8, p_metadata => $9,
                p_lease_seconds => $10, p_wait_seconds => $11, p_idempotency_key => $12, p_try => $13, p_now => $14,
                p_wait => $15) AS r`,
        args,
      ),
    );
    return { ...answer<QueueOutcome>(raw), name: raw.name };
  }

  async settleTicket(ticketId: string, repository: string | null = null, resource: string | null = null, now?: Date) {
    const args = [ticketId, repository, resource, iso(now)];
    const raw = await this.batched(repository, resource, { op: 'settle', repository, resource, ticketId, now: iso(now) }, () =>
      this.callWaiting('mutex_settle_ticket', 'SELECT mutex_settle_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_now => $4, p_wait => $5) AS r', args),
    );
    return answer<'ok' | 'not_found'>(raw);
  }

  async release(ticketId: string, repository: string, resource: string, actor: Actor, now?: Date) {
    const args = [ticketId, repository, resource, actor.id, actor.name, iso(now)];
    const op = { op: 'release', repository, resource, ticketId, actorId: actor.id, actorName: actor.name, now: iso(now) };
    const raw = await this.batched(repository, resource, op, () =>
      this.callWaiting(
        'mutex_release_ticket',
        `SELECT mutex_release_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_actor_id => $4,
                p_actor_name => $5, p_now => $6, p_wait => $7) AS r`,
        args,
      ),
    );
    return answer<'ok' | 'not_found' | 'ended'>(raw);
  }

  async renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor, now?: Date) {
    const raw = await this.callWaiting(
      'mutex_renew_ticket',
      `SELECT mutex_renew_ticket(p_ticket_id => $1, p_repository => $2, p_resource => $3, p_lease_seconds => $4,
              p_actor_id => $5, p_actor_name => $6, p_now => $7, p_wait => $8) AS r`,
      [ticketId, repository, resource, leaseSeconds, actor.id, actor.name, iso(now)],
    );
    return answer<'ok' | 'not_found' | 'not_holder'>(raw);
  }

  async clearLock(repository: string, resource: string, actor: Actor, now?: Date) {
    const raw = await this.callWaiting(
      'mutex_clear_lock',
      'SELECT mutex_clear_lock(p_repository => $1, p_resource => $2, p_actor_id => $3, p_actor_name => $4, p_now => $5, p_wait => $6) AS r',
      [repository, resource, actor.id, actor.name, iso(now)],
    );
    return change(raw);
  }

  async releaseOwner(repository: string, resource: string, owner: string, actor: Actor, now?: Date) {
    const raw = await this.callWaiting(
      'mutex_release_owner',
      `SELECT mutex_release_owner(p_repository => $1, p_resource => $2, p_owner => $3, p_actor_id => $4,
              p_actor_name => $5, p_now => $6, p_wait => $7) AS r`,
      [repository, resource, owner, actor.id, actor.name, iso(now)],
    );
    return { ...change(raw), status: raw.status as UnlockStatus };
  }

  async settleLock(repository: string, resource: string, now?: Date) {
    return change(
      await this.callWaiting('mutex_settle_lock', 'SELECT mutex_settle_lock(p_repository => $1, p_resource => $2, p_now => $3, p_wait => $4) AS r', [repository, resource, iso(now)]),
    );
  }

  async putPool(repository: string, name: string, resources: string[], description: string | null, actor: Actor, now?: Date) {
    const raw = await this.call(
      'mutex_put_pool',
      `SELECT mutex_put_pool(p_repository => $1, p_name => $2, p_resources => $3, p_description => $4, p_actor_id => $5,
              p_actor_name => $6, p_now => $7) AS r`,
      [repository, name, resources, description, actor.id, actor.name, iso(now)],
    );
    return { ...change(raw), outcome: raw.outcome as PutPoolOutcome, created: raw.created, name: raw.name };
  }

  async deletePool(repository: string, name: string, actor: Actor, now?: Date) {
    const raw = await this.call(
      'mutex_delete_pool',
      'SELECT mutex_delete_pool(p_repository => $1, p_name => $2, p_actor_id => $3, p_actor_name => $4, p_now => $5) AS r',
      [repository, name, actor.id, actor.name, iso(now)],
    );
    return { ...change(raw), outcome: raw.outcome as 'ok' | 'not_found' };
  }

  async pool(repository: string, name: string): Promise<PoolView | null> {
    const [row] = await this.pg.query<{ r: Raw | null }>('mutex_pool_view', 'SELECT mutex_pool_view($1, $2) AS r', [repository, name]);
    return row.r ? poolFromRow(row.r) : null;
  }

  async pools(repository: string): Promise<PoolView[]> {
    const rows = await this.pg.query<{ r: Raw }>('mutex_pools_of', 'SELECT r FROM mutex_pools_of($1) AS r', [repository]);
    return rows.map((row) => poolFromRow(row.r));
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
      'SELECT r FROM mutex_list(p_repository => $1, p_resource => $2, p_retention_seconds => $3, p_limit => $4, p_now => $5) AS r',
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

  /**
   * The purge reads the tickets in physical order, PURGE_SLICE_PAGES at a time, going on where the
   * last call stopped and wrapping around at the end, at most PURGE_PAGES_PER_CALL per call: a
   * table of that size or less is read whole every call.
   */
  async purgeReleased(retentionSeconds: number, keySeconds: number, now?: Date): Promise<number> {
    const at = iso(now);
    let purged = 0;
    for (let read = 0; read < PURGE_PAGES_PER_CALL; read += PURGE_SLICE_PAGES) {
      const [row] = await this.pg.query<{ r: { purged: number; pages: number } }>(
        'mutex_purge_pages',
        `SELECT mutex_purge_pages(p_tickets_before => coalesce($1::timestamptz, clock_timestamp()) - make_interval(secs => $2),
                                  p_keys_before => coalesce($1::timestamptz, clock_timestamp()) - make_interval(secs => $3),
                                  p_from_block => $4, p_blocks => $5) AS r`,
        [at, retentionSeconds, keySeconds, this.purgeFrom, PURGE_SLICE_PAGES],
      );
      purged += row.r.purged;
      this.purgeFrom += PURGE_SLICE_PAGES;
      if (this.purgeFrom >= row.r.pages) {
        this.purgeFrom = 0;
        if (read + PURGE_SLICE_PAGES >= row.r.pages) break; // read whole
      }
    }
    await this.pg.query(
      'mutex_purge_events',
      `SELECT mutex_purge_events(coalesce($1::timestamptz, clock_timestamp()) - make_interval(secs => $2), 100000)`,
      [at, retentionSeconds],
    );
    return purged;
  }
}
