import createClient from 'openapi-fetch';
import type { components, paths } from './generated/api-schema';

type Schemas = components['schemas'];

/** Where a ticket came from (CI run URL, commit, ref, job...). */
export type TicketMetadata = Record<string, string>;
export type Ticket = Schemas['TicketDto'];
export type QueueRequest = Schemas['QueueLockDto'];
export type AcquireResult = Schemas['AcquireResultDto'];
export type ClearResult = Schemas['ClearResultDto'];
export type ReleaseReason = NonNullable<Ticket['releaseReason']>;

/** One lock: a resource inside a repository. */
export interface LockRef {
  repository: string;
  resource: string;
}

export interface CallOptions {
  /** Stops the call and its retries (an aborted call rejects with the signal's reason). */
  signal?: AbortSignal;
  /**
   * Retries network errors, 429, 502, 503 and 504 with backoff until this moment (epoch ms);
   * the default is the client's `retryForMs` from now. 0: one attempt only.
   */
  retryUntil?: number;
  /** Longest time one attempt may take (default: the client's `attemptTimeoutMs`), on top of a long-poll's own wait. */
  attemptTimeoutMs?: number;
}

export interface SfpClientOptions {
  /** The service's base URL, e.g. https://locks.example.com (a path prefix is kept). */
  url: string;
  /** An API key of role owner or application. */
  token: string;
  /** How long a call keeps retrying an unreachable or overloaded server by default. */
  retryForMs?: number;
  /** Longest time one attempt may take, on top of a long-poll's own wait. */
  attemptTimeoutMs?: number;
  userAgent?: string;
  /** Server clock minus local clock, as another client measured it (until an answer tells). */
  clockOffsetMs?: number;
}

/** The server answered, and not with success: `status` and the server's `message`. */
export class SfpHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'SfpHttpError';
  }

  /** Why a ticket ended, on the 409 of an acquire, renew or release of an ended ticket. */
  get releaseReason(): ReleaseReason | null {
    const reason = (this.body as { releaseReason?: unknown } | undefined)?.releaseReason;
    return typeof reason === 'string' ? (reason as ReleaseReason) : null;
  }
}

/** No usable answer within the retry budget: the server is unreachable, or kept answering 429/502/503/504. */
export class SfpUnavailableError extends Error {
  constructor(
    message: string,
    readonly lastStatus: number | null,
  ) {
    super(message);
    this.name = 'SfpUnavailableError';
  }
}

const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5_000;
/** A Retry-After longer than this is not waited out in full: the budget decides. */
const RETRY_AFTER_MAX_MS = 30_000;

/** The longest long-poll the service accepts (seconds). */
export const MAX_WAIT_SECONDS = 60;

/**
 * The sfp Locks API, typed from the service's own OpenAPI document (generated/api-schema.ts).
 * Every call retries what a retry can fix (network errors, 429, 502, 503, 504) with jittered
 * exponential backoff, and turns everything else into an SfpHttpError carrying the server's message.
 */
export class SfpClient {
  private readonly api: ReturnType<typeof createClient<paths>>;
  private readonly retryForMs: number;
  private readonly attemptTimeoutMs: number;
  /** Server clock minus local clock, from the last answer's Date header (±1 s). */
  private clockOffsetMs: number;

  constructor(readonly options: SfpClientOptions) {
    this.retryForMs = options.retryForMs ?? 30_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 30_000;
    this.clockOffsetMs = options.clockOffsetMs ?? 0;
    this.api = createClient<paths>({
      baseUrl: options.url.replace(/\/+$/, ''),
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(options.userAgent ? { 'user-agent': options.userAgent } : {}),
      },
    });
  }

  get url(): string {
    return this.options.url;
  }

  /** The server's clock now, as far as the last answer told (to read its lease times). */
  serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Server clock minus local clock, from the last answer. */
  get clockOffset(): number {
    return this.clockOffsetMs;
  }

  /** Queues a ticket. With the same `idempotencyKey` a retried call returns the same ticket. */
  queue(body: QueueRequest, idempotencyKey: string, opts: CallOptions = {}): Promise<Ticket> {
    return this.call(opts, 0, (signal) =>
      this.api.POST('/sfp/api/locks', { body, params: { header: { 'Idempotency-Key': idempotencyKey } }, signal }),
    ) as Promise<Ticket>;
  }

  list(lock: LockRef, opts: CallOptions = {}): Promise<Ticket[]> {
    return this.call(opts, 0, (signal) =>
      this.api.GET('/sfp/api/locks/{repository}/{resource}', { params: { path: lock }, signal }),
    ) as Promise<Ticket[]>;
  }

  status(lock: LockRef, ticketId: string, opts: CallOptions = {}): Promise<Ticket> {
    return this.call(opts, 0, (signal) =>
      this.api.GET('/sfp/api/locks/{repository}/{resource}/{ticketId}', { params: { path: { ...lock, ticketId } }, signal }),
    ) as Promise<Ticket>;
  }

  /** Long-polls up to `waitSeconds` (≤ 60) for the grant; 409 (SfpHttpError) once the ticket has ended. */
  acquire(lock: LockRef, ticketId: string, waitSeconds: number, opts: CallOptions = {}): Promise<AcquireResult> {
    const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(waitSeconds)));
    return this.call(opts, wait * 1_000, (signal) =>
      this.api.POST('/sfp/api/locks/{repository}/{resource}/{ticketId}/acquire', {
        params: { path: { ...lock, ticketId }, query: { waitSeconds: wait } },
        signal,
      }),
    ) as Promise<AcquireResult>;
  }

  /** Extends the holder's lease from now; 409 (SfpHttpError) if the ticket no longer holds the lock. */
  renew(lock: LockRef, ticketId: string, leaseDurationSeconds?: number, opts: CallOptions = {}): Promise<Ticket> {
    return this.call(opts, 0, (signal) =>
      this.api.POST('/sfp/api/locks/{repository}/{resource}/{ticketId}/renew', {
        params: { path: { ...lock, ticketId } },
        body: leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds },
        signal,
      }),
    ) as Promise<Ticket>;
  }

  /** Releases a held ticket, or leaves the queue; 409 (SfpHttpError) if it had already ended. */
  release(lock: LockRef, ticketId: string, opts: CallOptions = {}): Promise<Ticket> {
    return this.call(opts, 0, (signal) =>
      this.api.DELETE('/sfp/api/locks/{repository}/{resource}/{ticketId}', { params: { path: { ...lock, ticketId } }, signal }),
    ) as Promise<Ticket>;
  }

  /** Force-clears the holder and every waiter (owners and applications). */
  clear(lock: LockRef, opts: CallOptions = {}): Promise<ClearResult> {
    return this.call(opts, 0, (signal) =>
      this.api.DELETE('/sfp/api/locks/{repository}/{resource}', { params: { path: lock }, signal }),
    ) as Promise<ClearResult>;
  }

  /** One logical call: attempts until an answer that is not worth retrying, or the budget ends. */
  private async call(
    opts: CallOptions,
    serverWaitMs: number,
    attempt: (signal: AbortSignal) => Promise<{ data?: unknown; error?: unknown; response: Response }>,
  ): Promise<unknown> {
    const retryUntil = opts.retryUntil ?? Date.now() + this.retryForMs;
    for (let n = 0; ; n++) {
      opts.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(serverWaitMs + (opts.attemptTimeoutMs ?? this.attemptTimeoutMs));
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let failure: string;
      let status: number | null = null;
      let retryAfterMs = 0;
      try {
        const { data, error, response } = await attempt(signal);
        this.noteServerClock(response);
        if (response.ok) return data;
        status = response.status;
        const message = messageOf(error) ?? `${response.status} ${response.statusText}`.trim();
        if (!RETRYABLE_STATUSES.has(response.status)) throw new SfpHttpError(response.status, error, message);
        failure = `the server answered ${response.status}: ${message}`;
        retryAfterMs = retryAfterOf(response);
      } catch (err) {
        if (err instanceof SfpHttpError) throw err;
        if (opts.signal?.aborted) throw opts.signal.reason;
        failure = `cannot reach the server at ${this.options.url}: ${networkReason(err)}`;
      }
      const backoff = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** n);
      const delay = Math.max(backoff, Math.min(retryAfterMs, RETRY_AFTER_MAX_MS));
      if (Date.now() + delay > retryUntil) throw new SfpUnavailableError(failure, status);
      await sleep(delay, opts.signal);
    }
  }

  private noteServerClock(response: Response): void {
    const date = Date.parse(response.headers.get('date') ?? '');
    // The header has whole seconds: the server's clock is somewhere in the second it names.
    if (Number.isFinite(date)) this.clockOffsetMs = date + 500 - Date.now();
  }
}

function messageOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim() || undefined;
  const message = (body as { message?: unknown } | undefined)?.message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : undefined;
}

function retryAfterOf(response: Response): number {
  const header = response.headers.get('retry-after');
  if (!header) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

/** "connect ECONNREFUSED 127.0.0.1:1" rather than fetch's "fetch failed". */
function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time';
  return e?.cause?.message ?? e?.cause?.code ?? e?.message ?? String(err);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
