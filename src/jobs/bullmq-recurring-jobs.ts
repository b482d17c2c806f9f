import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { BullmqQueues } from './bullmq-queues';
import { RecurringJob, RecurringJobs } from './recurring-jobs';

/**
 * With Redis: one BullMQ job scheduler per job (fixed id, shared by all instances), so each run
 * happens once whichever instance takes it. The schedule is written at start without waiting (a
 * Redis outage at start must not keep the API down) and again every `refreshMs`, so a Redis that
 * lost its data gets it back.
 */
export class BullmqRecurringJobs extends RecurringJobs implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(BullmqRecurringJobs.name);
  private readonly jobs: RecurringJob[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private bootstrapped = false;

  constructor(private readonly queues: BullmqQueues) {
    super();
  }

  every(job: RecurringJob): void {
    this.queues.handle(job.queue, job.name, () => job.run());
    this.jobs.push(job);
    if (this.bootstrapped) this.keep(job);
  }

  onApplicationBootstrap(): void {
    this.bootstrapped = true;
    for (const job of this.jobs) this.keep(job);
  }

  private keep(job: RecurringJob): void {
    const queue = this.queues.queue(job.queue);
    const upsert = () =>
      void queue
        .upsertJobScheduler(job.id, { every: job.everyMs }, { name: job.name, opts: { removeOnComplete: true, removeOnFail: job.removeOnFail } })
        .catch((err) => this.logger.warn(`cannot schedule ${job.id}: ${err.message}`));
    upsert();
    const timer = setInterval(upsert, job.refreshMs);
    timer.unref();
    this.timers.push(timer);
  }

  onApplicationShutdown(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
