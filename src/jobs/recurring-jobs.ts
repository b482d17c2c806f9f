/** Upkeep run every `everyMs` (a purge): idempotent work that any one instance may do. */
export interface RecurringJob {
  /** The queue that carries it where a shared store schedules it, and its fixed id there: one schedule for all instances. */
  queue: string;
  id: string;
  /** The name each run carries (a worker of the queue dispatches on it). */
  name: string;
  everyMs: number;
  /** How often a shared schedule is written again, so a store that lost its data gets it back. */
  refreshMs: number;
  /** Failed runs kept for inspection (BullMQ's removeOnFail: true keeps none). */
  removeOnFail: boolean | number;
  run(): Promise<unknown>;
}

/**
 * Schedules recurring upkeep. With Redis one schedule is shared by every instance (BullMQ job
 * schedulers); without it each instance runs its own timer, which is harmless as the work is idempotent.
 */
export abstract class RecurringJobs {
  abstract every(job: RecurringJob): void;
}
