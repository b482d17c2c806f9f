import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { RecurringJob, RecurringJobs } from './recurring-jobs';

/** Without Redis: each instance runs its upkeep on a plain timer (the tasks are idempotent). */
export class TimerRecurringJobs extends RecurringJobs implements OnApplicationShutdown {
  private readonly logger = new Logger(TimerRecurringJobs.name);
  private readonly timers: NodeJS.Timeout[] = [];

  every(job: RecurringJob): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return; // a slow run is not stacked on
      running = true;
      job
        .run()
        .catch((err) => this.logger.warn(`${job.id} failed: ${(err as Error).message}`))
        .finally(() => (running = false));
    }, job.everyMs);
    timer.unref();
    this.timers.push(timer);
  }

  onApplicationShutdown(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }
}
