import { LockRef, ReleaseReason, SfpClient, SfpHttpError, SfpUnavailableError, Ticket } from './sfp-client';

/** Why a held lease is gone (or can no longer be kept). */
export interface LeaseLoss {
  /** `ended`: the server says the ticket no longer holds the lock; `unreachable`: no renew got through before the lease ran out; `refused`: the key was refused. */
  kind: 'ended' | 'unreachable' | 'refused';
  releaseReason: ReleaseReason | null;
  status: number | null;
  message: string;
}

export interface LeaseKeeperOptions {
  /** Called once when the lease is lost; renewing stops. */
  onLost: (loss: LeaseLoss) => void;
  onRenewed?: (ticket: Ticket) => void;
  /** Share of the lease between renewals (default a third), before jitter. */
  renewFraction?: number;
}

/**
 * Renews a held ticket's lease in the background, about every third of the lease with ±15%
 * jitter (so holders of many locks do not renew in step), for as long as it runs. A renew that
 * fails for the network or an overloaded server is retried until the lease would have ended.
 */
export class LeaseKeeper {
  private readonly leaseMs: number;
  /** Local time by which the lease surely ends if no renew gets through. */
  private expiresAt: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  private stopped = false;
  renewals = 0;

  constructor(
    private readonly client: SfpClient,
    private readonly lock: LockRef,
    private ticket: Ticket,
    private readonly opts: LeaseKeeperOptions,
  ) {
    this.leaseMs = ticket.leaseDurationSeconds * 1_000;
    // The grant may be older than this moment: read what is left on the server's clock, less the
    // second its Date header rounds away.
    const left = ticket.leaseExpiresAt ? Date.parse(ticket.leaseExpiresAt) - client.serverNow() - 1_000 : this.leaseMs;
    this.expiresAt = Date.now() + Math.max(0, Math.min(this.leaseMs, left));
  }

  start(): this {
    this.schedule();
    return this;
  }

  /** Stops renewing and waits for a renew under way to finish or abort. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort(new Error('stopped'));
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    const fraction = this.opts.renewFraction ?? 1 / 3;
    const jitter = 0.85 + Math.random() * 0.3;
    // Never later than halfway to the end, so a failed renew still has time to be retried.
    const delay = Math.min(this.leaseMs * fraction * jitter, Math.max(0, (this.expiresAt - Date.now()) / 2));
    this.timer = setTimeout(() => {
      this.running = this.renew();
    }, delay);
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      const ticket = await this.client.renew(this.lock, this.ticket.id, undefined, {
        signal: this.abort.signal,
        retryUntil: this.expiresAt,
        // A hung attempt must not outlast the lease it tries to keep.
        attemptTimeoutMs: Math.max(1_000, this.expiresAt - sentAt),
      });
      // The server starts the new lease after it got the call: counting from the send is safe.
      this.expiresAt = sentAt + ticket.leaseDurationSeconds * 1_000;
      this.ticket = ticket;
      this.renewals++;
      this.opts.onRenewed?.(ticket);
      this.schedule();
    } catch (err) {
      if (this.stopped) return;
      this.stopped = true;
      this.opts.onLost(lossOf(err));
    }
  }
}

function lossOf(err: unknown): LeaseLoss {
  if (err instanceof SfpHttpError) {
    const refused = err.status === 401 || err.status === 403;
    return { kind: refused ? 'refused' : 'ended', releaseReason: err.releaseReason, status: err.status, message: err.message };
  }
  if (err instanceof SfpUnavailableError) {
    return { kind: 'unreachable', releaseReason: null, status: err.lastStatus, message: `no renew got through before the lease ran out (${err.message})` };
  }
  return { kind: 'unreachable', releaseReason: null, status: null, message: (err as Error)?.message ?? String(err) };
}
