import { LockRef, QueueRequest, SfpClient, SfpHttpError } from '@queue-mutex/client';
import { QueueSettings } from './cli-options';

/** The queue call's body; the same on every retry, so an Idempotency-Key replay matches it. */
export function queueBody(q: QueueSettings): QueueRequest {
  return {
    repository: q.lock.repository,
    resource: q.lock.resource,
    leaseDurationSeconds: q.leaseSeconds,
    ...(q.reason !== undefined ? { reason: q.reason } : {}),
    ...(q.waitTimeoutSeconds !== null ? { waitTimeoutSeconds: Math.ceil(q.waitTimeoutSeconds) } : {}),
    ...(Object.keys(q.metadata).length > 0 ? { metadata: q.metadata } : {}),
  };
}

/**
 * Leaves the queue (the ticket becomes `cancelled`), or releases it if it was granted meanwhile;
 * a ticket that had ended already is left as it is.
 */
export async function endTicket(client: SfpClient, lock: LockRef, ticketId: string, out: { warn(message: string): void }): Promise<void> {
  try {
    await client.release(lock, ticketId, { retryUntil: Date.now() + 10_000 });
  } catch (err) {
    if (err instanceof SfpHttpError && err.status === 409) return; // it had ended already
    out.warn(`could not end ticket ${ticketId}: ${(err as Error).message}`);
  }
}
