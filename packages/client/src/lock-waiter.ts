import { LockRef, ReleaseReason, SfpClient, SfpHttpError, SfpUnavailableError, Ticket } from './sfp-client';

/** Where a waiting ticket stands, for progress lines. */
export interface WaitStatus {
  ticket: Ticket;
  /** 1 for the first waiter. */
  position: number | null;
  /** How many tickets wait, this one included (null: not known yet). */
  waiting: number | null;
  /** The ticket holding the lock now, if any. */
  holder: Ticket | null;
  waitedMs: number;
  /** The last failure to reach the server, while it is being retried. */
  unreachable: string | null;
}

/** The wait limit passed before the grant. */
export class WaitTimeoutError extends Error {
  constructor(readonly waitedMs: number) {
    super('gave up waiting');
    this.name = 'WaitTimeoutError';
  }
}

/** The ticket ended before it was granted (timed out on the server, cleared, cancelled...). */
export class TicketEndedError extends Error {
  constructor(
    readonly releaseReason: ReleaseReason | 'not_found' | null,
    message: string,
  ) {
    super(message);
    this.name = 'TicketEndedError';
  }
}

export interface WaitOptions {
  /** Give up at this moment (epoch ms); none: wait as long as it takes. */
  deadline?: number;
  signal?: AbortSignal;
  /** Called before every long-poll: at least every `pollSeconds`, and after each change. */
  onStatus?: (status: WaitStatus) => void;
  /** Longest single long-poll; the grant ends it at once whatever its length. */
  pollSeconds?: number;
  /** Who holds the lock is read again when the position moves, or after this long. */
  holderRefreshMs?: number;
}

/**
 * Waits for a queued ticket's grant with long-poll acquires, and tells where it stands in the
 * queue. An unreachable server is retried until the deadline (the ticket keeps its place).
 * Resolves with the acquired ticket; rejects with WaitTimeoutError, TicketEndedError, an
 * SfpHttpError (401, 403...) or the signal's reason.
 */
export async function waitForGrant(client: SfpClient, lock: LockRef, ticket: Ticket, opts: WaitOptions = {}): Promise<Ticket> {
  const started = Date.now();
  const pollSeconds = opts.pollSeconds ?? 10;
  const holderRefreshMs = opts.holderRefreshMs ?? 30_000;
  let current = ticket;
  let holder: Ticket | null = null;
  let waiting: number | null = null;
  let listedAt = -Infinity;
  let listedPosition: number | null | undefined;
  let unreachable: string | null = null;
  for (;;) {
    if (current.status === 'acquired') return current;
    // Timed out on the server (the wait limit sent with the ticket) or here: the same outcome.
    if (current.status === 'released' && current.releaseReason === 'timed_out') throw new WaitTimeoutError(Date.now() - started);
    if (current.status === 'released') throw ended(current.releaseReason);
    const now = Date.now();
    if (opts.deadline !== undefined && now >= opts.deadline) throw new WaitTimeoutError(now - started);
    const position = current.queuePosition ?? null;
    if (!unreachable && (position !== listedPosition || now - listedAt >= holderRefreshMs)) {
      const seen = await holderAndQueue(client, lock, opts.signal);
      if (seen) ({ holder, waiting } = seen);
      listedAt = now;
      listedPosition = position;
    }
    opts.onStatus?.({ ticket: current, position, waiting, holder, waitedMs: now - started, unreachable });
    const remaining = opts.deadline === undefined ? Infinity : opts.deadline - now;
    const waitSeconds = Math.max(1, Math.min(pollSeconds, Math.ceil(remaining / 1_000)));
    try {
      // Retries inside the call stop at the next poll's end, so the status is told meanwhile.
      const result = await client.acquire(lock, current.id, waitSeconds, {
        signal: opts.signal,
        retryUntil: Math.min(opts.deadline ?? Infinity, Date.now() + pollSeconds * 1_000),
      });
      current = result.ticket;
      unreachable = null;
    } catch (err) {
      if (err instanceof SfpUnavailableError) {
        unreachable = err.message;
        continue;
      }
      if (err instanceof SfpHttpError && err.status === 409) {
        throw err.releaseReason === 'timed_out' ? new WaitTimeoutError(Date.now() - started) : ended(err.releaseReason);
      }
      if (err instanceof SfpHttpError && err.status === 404) throw new TicketEndedError('not_found', 'the ticket no longer exists');
      throw err;
    }
  }
}

function ended(reason: ReleaseReason | null): TicketEndedError {
  const why: Record<string, string> = {
    cleared: 'an owner cleared the lock',
    cancelled: 'it left the queue',
    expired: 'its lease was granted and expired before it was used',
    released: 'it was released',
  };
  return new TicketEndedError(reason, `the ticket ended before it was granted: ${why[reason ?? ''] ?? reason ?? 'unknown'}`);
}

/** Best effort: who holds the lock and how many wait. Only a refused key is an error here. */
async function holderAndQueue(client: SfpClient, lock: LockRef, signal?: AbortSignal): Promise<{ holder: Ticket | null; waiting: number } | null> {
  try {
    const tickets = await client.list(lock, { signal, retryUntil: 0 });
    return { holder: tickets.find((t) => t.status === 'acquired') ?? null, waiting: tickets.filter((t) => t.status === 'queued').length };
  } catch (err) {
    if (err instanceof SfpHttpError && (err.status === 401 || err.status === 403)) throw err;
    if (signal?.aborted) throw signal.reason;
    return null;
  }
}

/**
 * Leaves the queue (the ticket becomes `cancelled`), or releases the ticket if it was granted
 * meanwhile; one that had ended already is left as it is. Failures are told, not thrown: the
 * lease ends by itself.
 */
export async function endTicket(client: SfpClient, lock: LockRef, ticketId: string, warn: (message: string) => void): Promise<void> {
  try {
    await client.release(lock, ticketId, { retryUntil: Date.now() + 10_000 });
  } catch (err) {
    if (err instanceof SfpHttpError && err.status === 409) return;
    warn(`could not end ticket ${ticketId}: ${(err as Error).message}`);
  }
}
