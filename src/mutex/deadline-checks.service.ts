import { Injectable } from '@nestjs/common';
import { DeadlineJobs } from './deadline-jobs';
import { LockTimers } from './lock-timers.service';
import { MutexService } from './mutex.service';

/** Runs the lease-end and wait-limit checks of durable deadline jobs, whichever instance wrote them. */
@Injectable()
export class DeadlineChecks {
  constructor(jobs: DeadlineJobs, mutex: MutexService, timers: LockTimers) {
    jobs.onDue(async (ticketId) => {
      timers.stats.bullmqChecks++;
      await mutex.settleTicket(ticketId);
    });
  }
}
