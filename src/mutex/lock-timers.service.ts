import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Ticket } from './domain/ticket';
import { JOB_CHECK_TICKET, leaseJobId, LOCK_TIMERS_QUEUE, waitJobId } from './mutex.constants';

/**
 * Schedules "look at this ticket now" jobs for lease ends and wait limits. A job only triggers
 * a re-check in PostgreSQL, so a stale or duplicate job changes nothing, and a lost one is
 * caught by the sweep. Calls never throw: Redis being down must not fail a lock operation.
 */
@Injectable()
export class LockTimers {
  private readonly logger = new Logger(LockTimers.name);

  constructor(@InjectQueue(LOCK_TIMERS_QUEUE) private readonly queue: Queue) {
    queue.on('error', (err) => this.logger.warn(`lock timers queue: ${err.message}`));
  }

  /** A ticket was granted or renewed: (re)arm its lease job. */
  armLease(ticket: Ticket): Promise<void> {
    if (!ticket.leaseExpiresAt) return Promise.resolve();
    return this.arm(leaseJobId(ticket.id), ticket.id, ticket.leaseExpiresAt, true);
  }

  /** A ticket was queued with a wait limit. */
  armWait(ticket: Ticket): Promise<void> {
    if (!ticket.waitDeadline) return Promise.resolve();
    return this.arm(waitJobId(ticket.id), ticket.id, ticket.waitDeadline, false);
  }

  /** A ticket ended, or was granted (its wait limit no longer matters). */
  disarm(ticketId: string, which: 'all' | 'wait' = 'all'): Promise<void> {
    const ids = which === 'wait' ? [waitJobId(ticketId)] : [leaseJobId(ticketId), waitJobId(ticketId)];
    return Promise.all(ids.map((id) => this.queue.remove(id)))
      .then(() => undefined)
      .catch((err) => this.logger.warn(`disarm ${ticketId}: ${err.message}`));
  }

  private async arm(jobId: string, ticketId: string, at: Date, replace: boolean): Promise<void> {
    try {
      if (replace) await this.queue.remove(jobId);
      // A few ms late rather than early: the database clock decides, and an early check is wasted.
      const delay = Math.max(0, at.getTime() - Date.now() + 2);
      await this.queue.add(JOB_CHECK_TICKET, { ticketId }, { jobId, delay, removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 100 } });
    } catch (err) {
      this.logger.warn(`arm ${jobId}: ${(err as Error).message}`);
    }
  }
}
