import { InjectQueue } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { JobsOptions, Queue } from 'bullmq';
import { Ticket } from './domain/ticket';
import { JOB_CHECK_TICKET, leaseJobId, LOCK_TIMERS_QUEUE, waitJobId } from './mutex.constants';

/** How long a new timer waits in memory before it is written to Redis (with others, in one batch). */
const FLUSH_MS = 50;

interface PendingJob {
  jobId: string;
  ticketId: string;
  at: number;
  armedAt: number;
}

/**
 * Schedules "look at this ticket now" jobs for lease ends and wait limits. A job only triggers
 * a re-check in PostgreSQL, so a stale or duplicate job changes nothing, and a lost one is
 * caught by the sweep. Calls never throw: Redis being down must not fail a lock operation.
 *
 * A new timer is written to Redis once it has waited FLUSH_MS in memory (with the others due
 * then, in one batch), so a ticket that ends within FLUSH_MS of its grant costs no Redis call at
 * all: most short holds never touch Redis. Safe because leases and wait limits last at least a
 * second, and the sweep covers an instance that dies with timers still in memory.
 */
@Injectable()
export class LockTimers implements BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(LockTimers.name);
  private readonly pending = new Map<string, PendingJob>();
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly jobOptions: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 100 } };

  constructor(@InjectQueue(LOCK_TIMERS_QUEUE) private readonly queue: Queue) {
    queue.on('error', (err) => this.logger.warn(`lock timers queue: ${err.message}`));
  }

  /** A ticket was granted: arm its lease timer. */
  armLease(ticket: Ticket): void {
    if (ticket.leaseExpiresAt) this.defer(leaseJobId(ticket.id), ticket.id, ticket.leaseExpiresAt);
  }

  /** A ticket was queued with a wait limit. */
  armWait(ticket: Ticket): void {
    if (ticket.waitDeadline) this.defer(waitJobId(ticket.id), ticket.id, ticket.waitDeadline);
  }

  /** A lease was renewed: move its timer (written at once; renewals are rare). */
  async moveLease(ticket: Ticket): Promise<void> {
    if (!ticket.leaseExpiresAt) return;
    const jobId = leaseJobId(ticket.id);
    this.pending.delete(jobId);
    try {
      await this.queue.remove(jobId);
      await this.queue.add(JOB_CHECK_TICKET, { ticketId: ticket.id }, { ...this.jobOptions, jobId, delay: this.delayUntil(ticket.leaseExpiresAt.getTime()) });
    } catch (err) {
      this.logger.warn(`move ${jobId}: ${(err as Error).message}`);
    }
  }

  /** A ticket was granted (its wait timer is moot) or ended (both are). */
  disarm(ticket: Ticket, which: 'all' | 'wait' = 'all'): void {
    const ids: string[] = [];
    if (ticket.waitDeadline) ids.push(waitJobId(ticket.id));
    if (which === 'all' && ticket.leaseStart) ids.push(leaseJobId(ticket.id));
    const written = ids.filter((id) => !this.pending.delete(id));
    if (written.length === 0) return;
    Promise.all(written.map((id) => this.queue.remove(id))).catch((err) => this.logger.warn(`disarm ${ticket.id}: ${err.message}`));
  }

  private defer(jobId: string, ticketId: string, at: Date): void {
    this.pending.delete(jobId); // re-armed: to the back, so the map stays in arming order
    this.pending.set(jobId, { jobId, ticketId, at: at.getTime(), armedAt: Date.now() });
    if (!this.flushTimer) this.flushTimer = setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes the pending timers that have waited FLUSH_MS (with `all`, every one) in one round trip. */
  flush(all = false): Promise<void> {
    this.flushTimer = undefined;
    const ripe = Date.now() - FLUSH_MS;
    const batch: PendingJob[] = [];
    // A Map iterates in insertion order: oldest first.
    for (const job of this.pending.values()) {
      if (!all && job.armedAt > ripe) {
        this.flushTimer = setTimeout(() => void this.flush(), job.armedAt - ripe);
        break;
      }
      batch.push(job);
    }
    if (batch.length === 0) return this.flushing;
    for (const job of batch) this.pending.delete(job.jobId);
    this.flushing = this.queue
      .addBulk(batch.map((j) => ({ name: JOB_CHECK_TICKET, data: { ticketId: j.ticketId }, opts: { ...this.jobOptions, jobId: j.jobId, delay: this.delayUntil(j.at) } })))
      .then(() => undefined)
      .catch((err) => this.logger.warn(`cannot write ${batch.length} lock timers (the sweep will cover them): ${err.message}`));
    return this.flushing;
  }

  /** A few ms late rather than early: the database clock decides, and an early check is wasted. */
  private delayUntil(at: number): number {
    return Math.max(0, at - Date.now() + 2);
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.flush(true);
  }

  onModuleDestroy(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
