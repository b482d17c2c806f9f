/** "Look at this ticket in `delayMs`": a lease end or a wait limit (`jobId` is deterministic, see mutex.constants). */
export interface DeadlineJob {
  jobId: string;
  ticketId: string;
  delayMs: number;
}

/**
 * The durable copy of the lock deadlines that LockTimers times in memory: it outlives this
 * instance, so another one checks the ticket if this one dies. A job only triggers an idempotent
 * re-check in PostgreSQL, so a stale or duplicate job changes nothing and a lost one is caught by
 * the sweep. Calls may fail (the store may be away); callers log and carry on.
 */
export abstract class DeadlineJobs {
  /** Writes jobs, in one round trip where the store allows. */
  abstract add(jobs: DeadlineJob[]): Promise<void>;
  /** Replaces a job with the same id by one due later (a renewed lease). */
  abstract move(job: DeadlineJob): Promise<void>;
  abstract remove(jobIds: string[]): Promise<void>;
  /** Who checks the ticket of a due job (any instance's, not only the one that wrote it). */
  abstract onDue(handler: (ticketId: string) => Promise<void>): void;
}
