import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RecurringJobs } from '../jobs/recurring-jobs';
import { STATE_TTL_PURGE_BATCH, STATE_TTL_PURGE_JOB, STATE_TTL_PURGE_SCHEDULER_ID, STATE_TTL_QUEUE } from './state.constants';
import { StateService } from './state.service';

/**
 * Deletes expired state rows every STATE_TTL_PURGE_INTERVAL_MS. Reads already hide expired
 * values, so this only reclaims space; a lost schedule (Redis flushed) comes back on the next refresh.
 */
@Injectable()
export class StateTtlPurge implements OnModuleInit {
  private readonly logger = new Logger(StateTtlPurge.name);

  constructor(
    private readonly state: StateService,
    private readonly config: AppConfig,
    private readonly jobs: RecurringJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.every({
      queue: STATE_TTL_QUEUE,
      id: STATE_TTL_PURGE_SCHEDULER_ID,
      name: STATE_TTL_PURGE_JOB,
      everyMs: this.config.STATE_TTL_PURGE_INTERVAL_MS,
      refreshMs: Math.max(10 * this.config.STATE_TTL_PURGE_INTERVAL_MS, 300_000),
      removeOnFail: 100,
      run: () => this.purge(),
    });
  }

  async purge(): Promise<{ deleted: number }> {
    const deleted = await this.state.purgeExpired(STATE_TTL_PURGE_BATCH);
    if (deleted > 0) this.logger.log(`purged ${deleted} expired state values`);
    return { deleted };
  }
}
