import { Injectable } from '@nestjs/common';
import { JobsOptions, Queue } from 'bullmq';
import { BullmqQueues } from '../jobs/bullmq-queues';
import { DeadlineJob, DeadlineJobs } from './deadline-jobs';
import { JOB_CHECK_TICKET, LOCK_TIMERS_QUEUE } from './mutex.constants';

/** Workers running deadline checks at once, per instance. */
const CONCURRENCY = 16;

/**
 * Deadlines as BullMQ delayed jobs in Redis, run by whichever instance's worker takes them.
 * BullMQ alone is up to 100 ms late on an idle Redis (it wakes blocked workers on its `hz` tick):
 * LockTimers' in-process timers are what make a check on time; these jobs make it survive.
 */
@Injectable()
export class BullmqDeadlineJobs extends DeadlineJobs {
  private readonly queue: Queue;
  private readonly options: JobsOptions = { removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 100 } };

  constructor(private readonly queues: BullmqQueues) {
    super();
    this.queue = queues.queue(LOCK_TIMERS_QUEUE, CONCURRENCY);
  }

  async add(jobs: DeadlineJob[]): Promise<void> {
    await this.queue.addBulk(jobs.map((j) => ({ name: JOB_CHECK_TICKET, data: { ticketId: j.ticketId }, opts: { ...this.options, jobId: j.jobId, delay: j.delayMs } })));
  }

  async move(job: DeadlineJob): Promise<void> {
    await this.queue.remove(job.jobId);
    await this.queue.add(JOB_CHECK_TICKET, { ticketId: job.ticketId }, { ...this.options, jobId: job.jobId, delay: job.delayMs });
  }

  async remove(jobIds: string[]): Promise<void> {
    await Promise.all(jobIds.map((id) => this.queue.remove(id)));
  }

  onDue(handler: (ticketId: string) => Promise<void>): void {
    this.queues.handle(
      LOCK_TIMERS_QUEUE,
      JOB_CHECK_TICKET,
      async (job) => {
        const ticketId = (job.data as { ticketId?: string }).ticketId;
        if (ticketId) await handler(ticketId);
      },
      CONCURRENCY,
    );
  }
}
