import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import { keepJobScheduler } from '../common/job-scheduler';
import { AppConfig } from '../config/app-config';
import { STATE_TTL_PURGE_BATCH, STATE_TTL_PURGE_JOB, STATE_TTL_PURGE_SCHEDULER_ID, STATE_TTL_QUEUE } from './state.constants';
import { StateService } from './state.service';

/**
 * Deletes expired state rows on a BullMQ job scheduler. Reads already hide expired values, so this
 * only reclaims space; a lost schedule (Redis flushed) is re-created by the periodic upsert.
 */
@Processor(STATE_TTL_QUEUE)
export class StateTtlProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(StateTtlProcessor.name);
  private stopScheduler?: () => void;

  constructor(
    private readonly state: StateService,
    private readonly config: AppConfig,
    @InjectQueue(STATE_TTL_QUEUE) private readonly queue: Queue,
  ) {
    super();
    queue.on('error', (err) => this.logger.warn(`state TTL queue: ${err.message}`));
  }

  /** A Redis outage only delays the purge (reads already hide expired values): log, don't crash. */
  @OnWorkerEvent('error')
  onWorkerError(err: Error): void {
    this.logger.warn(`state TTL worker: ${err.message}`);
  }

  onApplicationBootstrap(): void {
    // Upserting again changes nothing but the interval; a lost schedule comes back on the next refresh.
    this.stopScheduler = keepJobScheduler(
      this.queue,
      STATE_TTL_PURGE_SCHEDULER_ID,
      this.config.STATE_TTL_PURGE_INTERVAL_MS,
      { name: STATE_TTL_PURGE_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
      Math.max(10 * this.config.STATE_TTL_PURGE_INTERVAL_MS, 300_000),
      this.logger,
    );
  }

  onApplicationShutdown(): void {
    this.stopScheduler?.();
  }

  async process(): Promise<{ deleted: number }> {
    const deleted = await this.state.purgeExpired(STATE_TTL_PURGE_BATCH);
    if (deleted > 0) this.logger.log(`purged ${deleted} expired state values`);
    return { deleted };
  }
}
