import { BadRequestException, ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Principal, repositoryAllowed } from '../auth/principal';
import { AppConfig } from '../config/app-config';
import { LockChange, Ticket, TicketMetadata, TicketSource } from './domain/ticket';
import { LockTimers } from './lock-timers.service';
import { MutexEventBus } from './mutex-event-bus';
import { Actor, LockStore, LockSummary, PoolView, QueueInput, UnlockStatus } from './lock-store';
import { Wakeups } from './wakeups.service';

export interface QueueRequest {
  repository: string;
  /** What it asks for: exactly one of a resource, a set of them, or a pool (and how many members). */
  resource?: string;
  resources?: string[];
  pool?: string;
  count?: number;
  leaseSeconds: number;
  reason?: string | null;
  waitTimeoutSeconds?: number | null;
  idempotencyKey?: string | null;
  /** Where the ticket came from (CI run URL, commit, ref, job…). */
  metadata?: TicketMetadata | null;
}

export interface TryLockRequest {
  repository: string;
  resource: string;
  owner: string;
  leaseSeconds: number;
  source: TicketSource;
}

/**
 * The one mutex service behind every API (sfp, Dapr lock, synchronize). It checks access,
 * makes one atomic call to the lock store, then applies the side effects of what changed:
 * lease timers, wake-ups of long-polls, observers. Side effects are never awaited on the
 * response path; PostgreSQL has already committed, and the sweep covers a lost timer.
 */
@Injectable()
export class MutexService {
  constructor(
    private readonly store: LockStore,
    private readonly timers: LockTimers,
    private readonly wakeups: Wakeups,
    private readonly events: MutexEventBus,
    private readonly config: AppConfig,
  ) {
    // In-process deadline timers settle a lock through the same idempotent check as BullMQ jobs.
    timers.onDue((ticketId) => this.settleTicket(ticketId));
  }

  async queue(p: Principal, req: QueueRequest): Promise<{ ticket: Ticket; replayed: boolean }> {
    this.assertAccess(p, req.repository);
    this.assertLease(req.leaseSeconds, 'leaseDurationSeconds');
    const target = queueTarget(req);
    const r = await this.queueTicket(p, {
      repository: req.repository,
      ...target,
      leaseSeconds: req.leaseSeconds,
      owner: null,
      source: 'sfp',
      reason: req.reason ?? null,
      metadata: req.metadata && Object.keys(req.metadata).length > 0 ? req.metadata : null,
      waitSeconds: req.waitTimeoutSeconds ?? null,
      idempotencyKey: req.idempotencyKey ?? null,
      tryOnly: false,
    });
    if (r.outcome === 'idempotency_mismatch') {
      throw new ConflictException('Idempotency-Key was already used for a different repository, resource or pool');
    }
    if (r.outcome === 'pool_name') {
      throw new ConflictException(`'${r.name}' is the name of a pool of ${req.repository}, not of a resource: ask for it with pool`);
    }
    if (r.outcome === 'no_such_pool') throw noSuchPool(req.repository, req.pool!);
    if (r.outcome === 'count_too_large') throw new BadRequestException(`count must be at most ${r.size}, the size of pool '${req.pool}'`);
    const ticket = r.ticket!;
    if (r.outcome === 'ok') this.afterQueued(ticket);
    if (r.outcome === 'replayed') assertSameTerms(ticket, req);
    return { ticket, replayed: r.outcome === 'replayed' };
  }

  /** Succeeds only if nobody holds the lock and nobody waits; never leaves a ticket behind. */
  async tryLock(p: Principal, req: TryLockRequest): Promise<Ticket | null> {
    this.assertAccess(p, req.repository);
    this.assertLease(req.leaseSeconds, 'expiryInSeconds');
    const r = await this.queueTicket(p, {
      repository: req.repository,
      resources: [req.resource],
      pool: null,
      leaseSeconds: req.leaseSeconds,
      owner: req.owner,
      source: req.source,
      reason: null,
      metadata: null,
      waitSeconds: null,
      idempotencyKey: null,
      tryOnly: true,
    });
    if (r.outcome !== 'ok') return null;
    this.afterQueued(r.ticket!);
    return r.ticket!;
  }

  async get(p: Principal, repository: string, resource: string, ticketId: string): Promise<Ticket> {
    this.assertAccess(p, repository);
    const r = await this.store.settleTicket(ticketId, repository, resource);
    this.apply(r);
    return this.found(r.ticket);
  }

  /**
   * The ticket's current state; with `waitSeconds`, waits until it is granted. 409 once it has
   * ended. The grant itself happens when the lock is freed, whether or not anyone polls.
   */
  async acquire(p: Principal, repository: string, resource: string, ticketId: string, waitSeconds: number, signal?: AbortSignal): Promise<Ticket> {
    this.assertAccess(p, repository);
    const deadline = Date.now() + waitSeconds * 1_000;
    this.wakeups.activePolls++;
    let ticket: Ticket;
    try {
      ticket = await this.pollUntilGranted(repository, resource, ticketId, deadline, signal);
    } finally {
      this.wakeups.activePolls--;
    }
    if (ticket.status === 'released') {
      // It will never be granted: tell the pipeline why (expired, cleared, timed out, cancelled).
      throw new ConflictException({ message: `Ticket has ended (${ticket.releaseReason})`, releaseReason: ticket.releaseReason, acquired: false });
    }
    return ticket;
  }

  private async pollUntilGranted(repository: string, resource: string, ticketId: string, deadline: number, signal?: AbortSignal): Promise<Ticket> {
    for (;;) {
      const remaining = deadline - Date.now();
      // Subscribe before reading, so a grant between the read and the wait is not missed.
      const waiter = remaining > 0 && !signal?.aborted && !this.wakeups.closing ? this.wakeups.wait(ticketId, Math.min(remaining, this.wakeups.recheckMs), signal) : null;
      const r = await this.store.settleTicket(ticketId, repository, resource);
      this.apply(r);
      const ticket = this.found(r.ticket);
      if (ticket.status !== 'queued' || !waiter) {
        waiter?.cancel();
        return ticket;
      }
      const changed = await waiter.promise;
      if (changed && changed.status !== 'queued') return changed;
    }
  }

  async release(p: Principal, repository: string, resource: string, ticketId: string): Promise<Ticket> {
    this.assertAccess(p, repository);
    const r = await this.store.release(ticketId, repository, resource, actorOf(p));
    this.apply(r);
    const ticket = this.found(r.ticket);
    if (r.outcome === 'ended') {
      throw new ConflictException({
        message: `Ticket already ended (${ticket.releaseReason})`,
        releaseReason: ticket.releaseReason,
        releasedAt: ticket.releasedAt?.toISOString() ?? null,
      });
    }
    this.ended(ticket);
    return ticket;
  }

  async renew(p: Principal, repository: string, resource: string, ticketId: string, leaseSeconds: number | null): Promise<Ticket> {
    this.assertAccess(p, repository);
    if (leaseSeconds !== null) this.assertLease(leaseSeconds, 'leaseDurationSeconds');
    const r = await this.store.renew(ticketId, repository, resource, leaseSeconds === null ? null : wholeLeaseSeconds(leaseSeconds), actorOf(p));
    this.apply(r);
    const ticket = this.found(r.ticket);
    if (r.outcome === 'not_holder') {
      throw new ConflictException({
        message:
          ticket.status === 'queued'
            ? 'Ticket does not hold the lock yet'
            : `Ticket no longer holds the lock (${ticket.releaseReason})`,
        status: ticket.status,
        releaseReason: ticket.releaseReason,
      });
    }
    void this.timers.moveLease(ticket);
    this.events.emit('renewed', ticket);
    return ticket;
  }

  async list(p: Principal, repository: string, resource: string, limit = 10_000): Promise<Ticket[]> {
    this.assertAccess(p, repository);
    this.apply(await this.store.settleLock(repository, resource));
    return this.store.list(repository, resource, this.config.RELEASED_RETENTION_SECONDS, limit);
  }

  async clear(p: Principal, repository: string, resource: string): Promise<Ticket[]> {
    this.assertAccess(p, repository);
    const r = await this.store.clearLock(repository, resource, actorOf(p));
    this.apply(r);
    return r.ended;
  }

  /** Dapr unlock: 0 released, 1 no such lock, 2 held by another owner. */
  async releaseOwner(p: Principal, repository: string, resource: string, owner: string): Promise<UnlockStatus> {
    this.assertAccess(p, repository);
    const r = await this.store.releaseOwner(repository, resource, owner, actorOf(p));
    this.apply(r);
    return r.status;
  }

  /** Release by lease id (synchronize): 'released', 'not_found' or 'ended'. */
  async releaseLease(p: Principal, repository: string, resource: string, leaseId: string): Promise<'released' | 'not_found' | 'ended'> {
    this.assertAccess(p, repository);
    const r = await this.store.release(leaseId, repository, resource, actorOf(p));
    this.apply(r);
    if (r.outcome === 'not_found') return 'not_found';
    if (r.outcome === 'ended') return 'ended';
    this.ended(r.ticket!);
    return 'released';
  }

  async locksIn(p: Principal, repository: string, limit = 1_000): Promise<LockSummary[]> {
    this.assertAccess(p, repository);
    return this.store.locksIn(repository, limit);
  }

  /** Creates or replaces a pool of a repository (owners); its waiting tickets that ask for more members than it now has end. */
  async putPool(p: Principal, repository: string, name: string, resources: string[], description: string | null): Promise<{ pool: PoolView; created: boolean }> {
    this.assertAccess(p, repository);
    const r = await this.store.putPool(repository, name, resources, description, actorOf(p));
    this.apply(r);
    if (r.outcome === 'name_is_resource') throw new ConflictException(`'${name}' is the name of a resource of ${repository}: a pool and a resource may not share a name`);
    if (r.outcome === 'member_is_pool') throw new ConflictException(`'${r.name}' is the name of a pool of ${repository}: a pool's members are resources`);
    return { pool: (await this.store.pool(repository, name))!, created: r.created! };
  }

  /** Deletes a pool: its waiting tickets end 'cancelled' (returned); members its tickets hold stay held until released. */
  async deletePool(p: Principal, repository: string, name: string): Promise<Ticket[]> {
    this.assertAccess(p, repository);
    const r = await this.store.deletePool(repository, name, actorOf(p));
    this.apply(r);
    if (r.outcome === 'not_found') throw noSuchPool(repository, name);
    return r.ended.filter((t) => t.releaseReason === 'cancelled' && t.pool === name);
  }

  async pool(p: Principal, repository: string, name: string): Promise<PoolView> {
    this.assertAccess(p, repository);
    this.apply(await this.store.settleLock(repository, name));
    const pool = await this.store.pool(repository, name);
    if (!pool) throw noSuchPool(repository, name);
    return pool;
  }

  async pools(p: Principal, repository: string): Promise<PoolView[]> {
    this.assertAccess(p, repository);
    return this.store.pools(repository);
  }

  /** A lease or wait-limit timer fired: settle that ticket's lock. */
  async settleTicket(ticketId: string): Promise<void> {
    this.apply(await this.store.settleTicket(ticketId));
  }

  /** Settles every lock with something overdue; returns how many transitions it made. */
  async sweep(limit = 200): Promise<number> {
    const r = await this.store.sweep(limit);
    this.apply(r);
    return r.granted.length + r.ended.length;
  }

  /** Milliseconds until the next lease end or wait limit of any lock (null: none). */
  nextDeadlineIn(): Promise<number | null> {
    return this.store.nextDeadlineIn();
  }

  /** Deletes released tickets past the audit retention; forgets idempotency keys past the list window. */
  purgeReleased(): Promise<number> {
    const listed = this.config.RELEASED_RETENTION_SECONDS;
    return this.store.purgeReleased(Math.max(listed, Math.round(this.config.AUDIT_RETENTION_DAYS * 86_400)), listed);
  }

  private async queueTicket(p: Principal, fields: Omit<QueueInput, 'ticketId' | 'requesterId' | 'requesterName'>) {
    const r = await this.store.queue({
      ...fields,
      leaseSeconds: wholeLeaseSeconds(fields.leaseSeconds),
      ticketId: randomUUID(),
      requesterId: p.userId,
      requesterName: p.name,
    });
    this.apply(r);
    return r;
  }

  private afterQueued(ticket: Ticket): void {
    this.events.emit('queued', ticket);
    if (ticket.status === 'acquired') this.granted(ticket, false);
    else this.timers.armWait(ticket);
  }

  private apply(change: LockChange): void {
    for (const t of change.granted) this.granted(t, true); // a settle only ever grants the head of the queue
    for (const t of change.ended) this.ended(t);
  }

  /** `fromQueue`: it waited, so a long-poll may be waiting on it (here or on another instance). */
  private granted(t: Ticket, fromQueue: boolean): void {
    this.timers.disarm(t, 'wait');
    this.timers.armLease(t);
    if (fromQueue) this.wakeups.notify(t);
    this.events.emit('granted', t);
  }

  private ended(t: Ticket): void {
    this.timers.disarm(t);
    if (!t.leaseStart) this.wakeups.notify(t); // it ended while waiting: wake its long-poll
    this.events.emit('ended', t);
  }

  private found(ticket: Ticket | undefined): Ticket {
    if (!ticket) throw new NotFoundException('Ticket not found for this repository and resource');
    return ticket;
  }

  assertAccess(p: Principal, repository: string): void {
    if (!repositoryAllowed(p.repositories, repository)) {
      throw new ForbiddenException(`This key may not access repository '${repository}'`);
    }
  }

  private assertLease(seconds: number, field: string): void {
    if (!(seconds > 0) || seconds > this.config.MAX_LEASE_SECONDS) {
      throw new BadRequestException(`${field} must be between 1 and ${this.config.MAX_LEASE_SECONDS} seconds`);
    }
  }
}

const actorOf = (p: Principal): Actor => ({ id: p.userId, name: p.name });

const noSuchPool = (repository: string, name: string) => new NotFoundException(`No pool '${name}' in repository '${repository}'`);

/** What a queue request asks for, as the lock store takes it: exactly one of resource, resources or pool. */
function queueTarget(req: QueueRequest): Pick<QueueInput, 'resources' | 'pool'> {
  const given = (['resource', 'resources', 'pool'] as const).filter((k) => req[k] !== undefined && req[k] !== null);
  if (given.length === 0) throw new BadRequestException('resource is required (or resources, or pool)');
  if (given.length > 1) throw new BadRequestException(`${given.join(' and ')} may not be given together: use one of resource, resources or pool`);
  if (req.count !== undefined && req.count !== null && req.pool === undefined) throw new BadRequestException('count goes with pool only');
  if (req.pool !== undefined) return { resources: [], pool: { name: req.pool, count: req.count ?? 1 } };
  return { resources: req.resources ?? [req.resource!], pool: null };
}

/** The same pairs in any order give the same text. */
function canonical(metadata: TicketMetadata): string {
  return JSON.stringify(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Leases are whole seconds: a fraction asked for is rounded up, never cut short. */
function wholeLeaseSeconds(asked: number): number {
  return Math.ceil(asked);
}

/**
 * A replayed Idempotency-Key must repeat the request: the same key with other terms is a client
 * bug, and answering with the first ticket would hide that its lease or reason is not the one
 * asked for. Only what the ticket still shows is compared: a renew may have changed the lease,
 * and a ticket granted at once keeps no wait limit (it had no use for one).
 */
function assertSameTerms(t: Ticket, req: QueueRequest): void {
  const differ: string[] = [];
  if (t.renewedAt === null && t.leaseDurationSeconds !== wholeLeaseSeconds(req.leaseSeconds)) differ.push('leaseDurationSeconds');
  if (t.reason !== (req.reason ?? null)) differ.push('reason');
  if (canonical(t.metadata) !== canonical(req.metadata ?? {})) differ.push('metadata');
  // Its wait limit: as stored, or none if it was queued without one. A ticket granted at once
  // never waited, so it keeps none, whatever was asked.
  const grantedAtOnce = t.leaseStart !== null && t.leaseStart.getTime() === t.createdAt.getTime();
  const waited = t.waitDeadline !== null ? Math.round((t.waitDeadline.getTime() - t.createdAt.getTime()) / 1000) : grantedAtOnce ? undefined : null;
  if (waited !== undefined && waited !== (req.waitTimeoutSeconds ?? null)) differ.push('waitTimeoutSeconds');
  if (differ.length > 0) throw new ConflictException(`Idempotency-Key was already used with a different ${differ.join(', ')}`);
}
