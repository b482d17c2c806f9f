import { formatDuration } from './durations';
import type { WaitStatus } from './lock-waiter';
import type { LockRef, SfpClient, Ticket } from './sfp-client';

/** `flxbl-io/sf-core uat` */
export function lockName(lock: LockRef): string {
  return `${lock.repository} ${lock.resource}`;
}

/**
 * One line on where a waiting ticket stands: position, who holds the lock, for how long, and
 * the holder's reason and CI run, so a reader can go and look at it.
 */
export function describeWait(status: WaitStatus, client: Pick<SfpClient, 'serverNow'>): string {
  const parts = [`waiting ${formatDuration(status.waitedMs)}`];
  if (status.unreachable) return `${parts[0]}; ${status.unreachable}; retrying`;
  if (status.position !== null) parts.push(`position ${status.position}${status.waiting ? ` of ${status.waiting}` : ''}`);
  parts.push(describeHolder(status.holder, client));
  return parts.join(', ');
}

function describeHolder(holder: Ticket | null, client: Pick<SfpClient, 'serverNow'>): string {
  if (!holder) return 'the lock is being handed over';
  const since = holder.leaseStart ? ` for ${formatDuration(client.serverNow() - Date.parse(holder.leaseStart))}` : '';
  const details = [holder.reason, holder.metadata?.ciUrl].filter((d): d is string => !!d);
  return `held by ${holder.requestedBy.name}${since}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/** What a plain log must show again: a new position or holder (time alone is not news). */
export function waitSignature(status: WaitStatus): string {
  return [status.position, status.waiting, status.holder?.id ?? '', status.unreachable ? 'unreachable' : ''].join('|');
}
