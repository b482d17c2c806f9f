import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { AppConfig } from '../config/app-config';
import { JOB_CHECK_TICKET, JOB_PURGE_RELEASED, LOCK_TIMERS_QUEUE } from './mutex.constants';
import { MutexService } from './mutex.service';

/** Runs lease-end and wait-limit checks, and the purge of released tickets past retention. */
@Processor(LOCK_TIMERS_QUEUE, { concurrency: 16 })
export class LockTimersProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(LockTimersProcessor.name);

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
    @InjectQueue(LOCK_TIMERS_QUEUE) private readonly queue: Queue,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    // One scheduler for all instances (fixed id): upserting it again is harmless.
    await this.queue
      .upsertJobScheduler(JOB_PURGE_RELEASED, { every: this.config.RELEASED_PURGE_INTERVAL_MS }, { name: JOB_PURGE_RELEASED, opts: { removeOnComplete: true, removeOnFail: true } })
      .catch((err) => this.logger.warn(`cannot schedule purge: ${err.message}`));
  }

  /** Redis outages are expected and survivable (the sweep covers them): log, don't crash or spam stderr. */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`lock timers worker: ${err.message}`);
  }

  async process(job: Job<{ ticketId?: string }>): Promise<void> {
    if (job.name === JOB_CHECK_TICKET && job.data.ticketId) {
      await this.mutex.check(job.data.ticketId);
    } else if (job.name === JOB_PURGE_RELEASED) {
      const n = await this.mutex.purgeReleased();
      if (n > 0) this.logger.log(`purged ${n} released tickets past retention`);
    }
  }
}
