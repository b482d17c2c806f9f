import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { AppConfig } from '../config/app-config';
import { JOB_CHECK_TICKET, JOB_PURGE_RELEASED, LOCK_TIMERS_QUEUE } from './mutex.constants';
import { MutexService } from './mutex.service';

/** Runs lease-end and wait-limit checks, and the purge of released tickets past retention. */
@Processor(LOCK_TIMERS_QUEUE, { concurrency: 16 })
export class LockTimersProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LockTimersProcessor.name);
  private rescheduler?: NodeJS.Timeout;

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
    @InjectQueue(LOCK_TIMERS_QUEUE) private readonly queue: Queue,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    // Not awaited: with Redis down at start the API must still come up. Upserted again now and
    // then, so a Redis that lost its data gets the scheduler back.
    void this.schedulePurge();
    this.rescheduler = setInterval(() => void this.schedulePurge(), 300_000);
    this.rescheduler.unref();
  }

  onApplicationShutdown(): void {
    if (this.rescheduler) clearInterval(this.rescheduler);
  }

  /** One scheduler for all instances (fixed id): upserting it again is harmless. */
  private async schedulePurge(): Promise<void> {
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
