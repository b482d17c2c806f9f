import { Injectable } from '@nestjs/common';
import { DeadlineJob, DeadlineJobs } from './deadline-jobs';

/**
 * Without Redis there is no store that outlives the instance, and nothing durable to write:
 * LockTimers' in-process timers check deadlines on time, and the sweep (which follows the
 * earliest deadline in PostgreSQL) settles whatever an instance that died left behind.
 */
@Injectable()
export class InProcessDeadlineJobs extends DeadlineJobs {
  async add(_jobs: DeadlineJob[]): Promise<void> {}

  async move(_job: DeadlineJob): Promise<void> {}

  async remove(_jobIds: string[]): Promise<void> {}

  onDue(_handler: (ticketId: string) => Promise<void>): void {}
}
