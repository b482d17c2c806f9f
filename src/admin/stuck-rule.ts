/**
 * When a held lock "looks stuck" (documented in Swagger and the dashboard):
 *
 * - `held_too_long`: the holder has held it for more than STUCK_HOLD_FACTOR times its own lease
 *   duration, i.e. it keeps renewing far past one lease (a hung deploy with a heartbeat);
 * - `lease_overdue`: its lease ended more than STUCK_OVERDUE_SECONDS ago and the lock was not
 *   expired, i.e. lease timers and the reconciliation sweep are not running.
 *
 * Both are read from the holder's own ticket, so the check costs nothing per lock.
 * Callers alias `locks` as `l` and the holder's ticket as `h`.
 */
export const STUCK_HOLD_FACTOR = 2;
export const STUCK_OVERDUE_SECONDS = 30;

export type StuckReason = 'held_too_long' | 'lease_overdue';

export const STUCK_REASON_SQL = `CASE
    WHEN l.holder_id IS NULL OR h.id IS NULL THEN NULL
    WHEN l.holder_expires_at < now() - make_interval(secs => ${STUCK_OVERDUE_SECONDS}) THEN 'lease_overdue'
    WHEN now() - h.lease_start > make_interval(secs => ${STUCK_HOLD_FACTOR} * h.lease_duration_seconds) THEN 'held_too_long'
  END`;

export const STUCK_RULE_DESCRIPTION =
  `A held lock is stuck when its holder has held it for more than ${STUCK_HOLD_FACTOR}× its own lease duration ` +
  `(it keeps renewing: \`held_too_long\`), or its lease ended more than ${STUCK_OVERDUE_SECONDS} s ago ` +
  `without being expired (timers and sweep are not running: \`lease_overdue\`).`;
