import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
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
  private timer?: NodeJS.Timeout;

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
    // Not awaited: a Redis outage at start must not keep the API from serving.
    void this.schedule();
    this.timer = setInterval(() => void this.schedule(), Math.max(10 * this.config.STATE_TTL_PURGE_INTERVAL_MS, 300_000));
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One scheduler for all instances (fixed id): upserting it again changes nothing but the interval. */
  private async schedule(): Promise<void> {
    await this.queue
      .upsertJobScheduler(
        STATE_TTL_PURGE_SCHEDULER_ID,
        { every: this.config.STATE_TTL_PURGE_INTERVAL_MS },
        { name: STATE_TTL_PURGE_JOB, opts: { removeOnComplete: true, removeOnFail: 100 } },
      )
      .catch((err) => this.logger.warn(`cannot schedule the state TTL purge: ${err.message}`));
  }

  async process(): Promise<{ deleted: number }> {
    const deleted = await this.state.purgeExpired(STATE_TTL_PURGE_BATCH);
    if (deleted > 0) this.logger.log(`purged ${deleted} expired state values`);
    return { deleted };
  }
}
