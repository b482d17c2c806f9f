/** BullMQ queue carrying the lock service's timed checks (lease ends, wait limits) and upkeep. */
export const LOCK_TIMERS_QUEUE = 'lock-timers';
export const JOB_CHECK_TICKET = 'check-ticket';
export const JOB_PURGE_RELEASED = 'purge-released';

/** Deterministic job ids, so a job can be found, moved and removed. */
export const leaseJobId = (ticketId: string) => `lease-${ticketId}`;
export const waitJobId = (ticketId: string) => `wait-${ticketId}`;
