/** How main hands the held ticket to the detached renewer, and how the renewer reports to post. */
export const RENEWER_ENV = {
  /** The ticket as main last saw it (JSON). */
  ticket: 'QUEUE_MUTEX_RENEWER_TICKET',
  /** Server clock minus local clock, as main measured it. */
  clockOffset: 'QUEUE_MUTEX_RENEWER_CLOCK_OFFSET',
  /** The runner's process for this job (main's parent): once it is gone, so is the job. */
  jobPid: 'QUEUE_MUTEX_RENEWER_JOB_PID',
} as const;

/** One line of the renewer's log: JSON, so post can tell a lost lease from routine renewals. */
export interface RenewerEvent {
  at: string;
  event: 'started' | 'renewed' | 'lost' | 'stopped';
  message?: string;
  releaseReason?: string | null;
}

export function renewerLine(event: Omit<RenewerEvent, 'at'>): string {
  return `${JSON.stringify({ at: new Date().toISOString(), ...event })}\n`;
}
