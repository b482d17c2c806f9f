import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { keepJobScheduler } from '../common/job-scheduler';
import { AppConfig } from '../config/app-config';
import { LockTimers } from './lock-timers.service';
import { JOB_CHECK_TICKET, JOB_PURGE_RELEASED, LOCK_TIMERS_QUEUE } from './mutex.constants';
import { MutexService } from './mutex.service';

/** Runs lease-end and wait-limit checks, and the purge of released tickets past retention. */
@Processor(LOCK_TIMERS_QUEUE, { concurrency: 16 })
export class LockTimersProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LockTimersProcessor.name);
  private stopScheduler?: () => void;

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
    @InjectQueue(LOCK_TIMERS_QUEUE) private readonly queue: Queue,
    private readonly timers: LockTimers,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.stopScheduler = keepJobScheduler(
      this.queue,
      JOB_PURGE_RELEASED,
      this.config.RELEASED_PURGE_INTERVAL_MS,
      { name: JOB_PURGE_RELEASED, opts: { removeOnComplete: true, removeOnFail: true } },
      300_000,
      this.logger,
    );
  }

  onApplicationShutdown(): void {
    this.stopScheduler?.();
  }

  /** Redis outages are expected and survivable (the sweep covers them): log, don't crash or spam stderr. */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`lock timers worker: ${err.message}`);
  }

  async process(job: Job<{ ticketId?: string }>): Promise<void> {
    if (job.name === JOB_CHECK_TICKET && job.data.ticketId) {
      this.timers.stats.bullmqChecks++;
      await this.mutex.settleTicket(job.data.ticketId);
    } else if (job.name === JOB_PURGE_RELEASED) {
      const n = await this.mutex.purgeReleased();
      if (n > 0) this.logger.log(`purged ${n} released tickets past retention`);
    }
  }
}
