import { randomUUID } from 'node:crypto';
import { endTicket, formatDuration, QueueRequest, SfpClient, targetBody, targetName, Ticket, TicketEndedError, waitForGrant, WaitTimeoutError } from '@queue-mutex/client';
import { QueueSettings } from './cli-options';
import { EXIT, signalExitCode } from './exit-codes';
import { ProgressReporter } from './progress-reporter';

/** The signals that end a wait (leaving the queue) and that `run` passes on to its command. */
export const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The queue call's body; the same on every retry, so an Idempotency-Key replay matches it. */
export function queueBody(q: QueueSettings): QueueRequest {
  return {
    repository: q.lock.repository,
    ...targetBody(q.target),
    leaseDurationSeconds: q.leaseSeconds,
    ...(q.reason !== undefined ? { reason: q.reason } : {}),
    ...(q.waitTimeoutSeconds !== null ? { waitTimeoutSeconds: Math.ceil(q.waitTimeoutSeconds) } : {}),
    ...(Object.keys(q.metadata).length > 0 ? { metadata: q.metadata } : {}),
  };
}

/**
 * Queues a ticket and, with `wait`, waits for its grant, telling where it stands. A signal
 * (`interrupt` aborted with its name), the wait limit, or the ticket ending first leaves no ticket
 * queued, says why, and resolves with the exit code instead of a ticket. Other failures reject.
 */
export async function queueAndWait(
  client: SfpClient,
  q: QueueSettings,
  wait: boolean,
  interrupt: AbortSignal,
  out: ProgressReporter,
): Promise<{ ticket: Ticket } | { exitCode: number }> {
  const body = queueBody(q);
  // One key for the call and its retries, so they never queue twice.
  const key = q.idempotencyKey ?? `queue-mutex-${randomUUID()}`;
  const started = Date.now();
  const leave = (id: string) => endTicket(client, q.lock, id, (m) => out.warn(m));
  let ticket: Ticket;
  try {
    ticket = await client.queue(body, key, { signal: interrupt });
  } catch (err) {
    if (!interrupt.aborted) throw err;
    // The call may have reached the server: the same key finds that ticket, to leave it.
    const queued = await client.queue(body, key, { retryUntil: Date.now() + 5_000 }).catch(() => null);
    if (queued) await leave(queued.id);
    return { exitCode: signalExitCode(interrupt.reason as NodeJS.Signals) };
  }
  if (!wait || ticket.status === 'acquired') return { ticket };

  out.info(`queued for ${targetName(q.lock.repository, q.target)} (ticket ${ticket.id})`);
  try {
    return {
      ticket: await waitForGrant(client, q.lock, ticket, {
        deadline: q.waitTimeoutSeconds === null ? undefined : started + q.waitTimeoutSeconds * 1_000,
        signal: interrupt,
        onStatus: (status) => out.waiting(status),
      }),
    };
  } catch (err) {
    out.clear();
    if (interrupt.aborted) {
      await leave(ticket.id);
      out.info(`left the queue (${interrupt.reason})`);
      return { exitCode: signalExitCode(interrupt.reason as NodeJS.Signals) };
    }
    if (err instanceof WaitTimeoutError) {
      await leave(ticket.id);
      out.warn(`gave up waiting for ${targetName(q.lock.repository, q.target)} after ${formatDuration(err.waitedMs)} (--wait-timeout); left the queue`);
      return { exitCode: EXIT.TEMPFAIL };
    }
    if (err instanceof TicketEndedError) {
      out.warn(err.message);
      return { exitCode: EXIT.TEMPFAIL };
    }
    throw err;
  } finally {
    out.clear();
  }
}
