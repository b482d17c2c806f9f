import { QueueRequest } from '@queue-mutex/client';
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
