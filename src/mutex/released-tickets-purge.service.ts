import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RecurringJobs } from '../jobs/recurring-jobs';
import { JOB_PURGE_RELEASED, LOCK_TIMERS_QUEUE } from './mutex.constants';
import { MutexService } from './mutex.service';

/** Deletes released tickets past the retention window, every RELEASED_PURGE_INTERVAL_MS. */
@Injectable()
export class ReleasedTicketsPurge implements OnModuleInit {
  private readonly logger = new Logger(ReleasedTicketsPurge.name);

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
    private readonly jobs: RecurringJobs,
  ) {}

  onModuleInit(): void {
    this.jobs.every({
      queue: LOCK_TIMERS_QUEUE,
      id: JOB_PURGE_RELEASED,
      name: JOB_PURGE_RELEASED,
      everyMs: this.config.RELEASED_PURGE_INTERVAL_MS,
      refreshMs: 300_000,
      removeOnFail: true,
      run: async () => {
        const n = await this.mutex.purgeReleased();
        if (n > 0) this.logger.log(`purged ${n} released tickets past retention`);
      },
    });
  }
}
