import { isUnavailableError } from '../common/unavailable';

/** One operation waiting for its turn: how to run it in a batch, and alone. */
export interface BatchedCall<R> {
  /** What it changes (a lock: repository + resource; a state key): a batch lists its operations in this order. */
  key: string;
  /** Its element of the batch, e.g. a JSON object naming its fields (see `mutex_batch` in src/mutex/sql/70-batch.sql). */
  operation: Record<string, unknown>;
  /** The same operation as a call of its own. */
  alone: () => Promise<R>;
}

export interface BatchExecutor<R> {
  /** Runs the operations in one transaction, in order; one answer each, in the same order. */
  (batch: Record<string, unknown>[]): Promise<R[]>;
}

export interface BatchStats {
  batches: number;
  operations: number;
  largest: number;
  /** Operations a batch handed back unrun (their lock was busy) and that then ran on their own. */
  ranAlone: number;
  /** Batches that failed as a whole (their operations then ran on their own). */
  failed: number;
}

/** An answer that says "not done here, run me on my own" (the batch found the lock busy). */
export type RunAlone<R> = (answer: R) => boolean;

export interface CallBatcherOptions<R> {
  /** Which answers mean "run me on my own" (none, by default). */
  runAlone?: RunAlone<R>;
  /** Batches in flight at most (lanes). */
  maxInFlight?: number;
  maxBatch?: number;
  /** How long every batch in flight must have been out before another lane opens. */
  spareLaneAfterMs?: number;
  /** At most one operation per key in a batch (a multi-row statement cannot change one row twice). */
  onePerKey?: boolean;
}

interface Pending<R> extends BatchedCall<R> {
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups concurrent lock operations into one database call and one transaction, so requests that
 * arrive together share a round trip and a commit. An operation goes out at the end of the
 * current event-loop turn when no batch is running, otherwise with the next batch as soon as one
 * returns (the busier the service, the larger the batches). An operation alone in its batch is
 * sent as its own call.
 *
 * A further lane (up to `maxInFlight` batches at once) opens only once every batch in flight has
 * been out for `spareLaneAfterMs`: a batch is normally back within a millisecond or two, and
 * sending the next operation at once beside it would make it a transaction of its own (in a bench
 * run, two lanes always open cost 1.5× the PostgreSQL CPU per uncontended cycle of one). The spare lane is
 * for a batch that waits (a read that must settle a lock another transaction holds, up to the
 * lock timeout), so that one slow lock never holds up the rest for long.
 *
 * Each operation still runs under its own lock's row lock. The batch hands back, unrun, any
 * operation whose lock another transaction holds (`runAlone`): those run on their own, so one
 * busy lock never holds up the rest. Operations go in key order all the same. A failure
 * inside a batch (a bug, a lost race on a brand-new lock) rolls it back as a whole and every
 * operation in it runs on its own, so only an operation that fails alone fails. Operations run on
 * their own keep their order per lock.
 *
 * An operation on a lock that a batch in flight already has waits for the next batch rather
 * than go out in a parallel one: there a change would find the lock's row taken by its sibling,
 * be handed back and run alone, a commit of its own. So a hot lock's operations queue up here and
 * go out together, one transaction per round trip, while the other lane serves other locks.
 * Reads wait too: letting them pass (they rarely take the row) measured slower, because each then
 * costs a database call of its own instead of riding in the lock's next batch.
 */
export class CallBatcher<R> {
  /** Batches sent, operations in them, the largest, operations a batch handed back, batches that failed. */
  readonly stats: BatchStats = { batches: 0, operations: 0, largest: 0, ranAlone: 0, failed: 0 };
  private pending: Pending<R>[] = [];
  private inFlight = 0;
  /** Keys that a batch in flight changes: the number of such batches. */
  private readonly busy = new Map<string, number>();
  private scheduled = false;
  /** When each batch in flight went out (performance.now()). */
  private readonly sentAt = new Set<number>();
  /** Armed while operations wait for the spare lane to open. */
  private spareLaneTimer?: NodeJS.Timeout;

  private readonly runAlone: RunAlone<R>;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly spareLaneAfterMs: number;
  private readonly onePerKey: boolean;

  constructor(
    private readonly executeBatch: BatchExecutor<R>,
    options: CallBatcherOptions<R> = {},
  ) {
    this.runAlone = options.runAlone ?? (() => false);
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxBatch = options.maxBatch ?? 64;
    this.spareLaneAfterMs = options.spareLaneAfterMs ?? 5;
    this.onePerKey = options.onePerKey ?? false;
  }

  run(call: BatchedCall<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ ...call, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.pending.length === 0) return;
    this.scheduled = true;
    // End of this event-loop turn: requests read in the same turn join the same batch.
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      if (this.inFlight > 0 && !this.spareLaneOpen()) return;
      const batch = this.takeBatch();
      if (batch.length === 0) return; // all pending operations wait on locks in flight
      void this.send(batch);
    }
  }

  /** Whether every batch in flight has been out long enough to open another lane; if not, a timer re-dispatches then. */
  private spareLaneOpen(): boolean {
    const youngest = Math.max(...this.sentAt);
    const waitMs = youngest + this.spareLaneAfterMs - performance.now();
    if (waitMs <= 0) return true;
    if (!this.spareLaneTimer) {
      this.spareLaneTimer = setTimeout(() => {
        this.spareLaneTimer = undefined;
        this.dispatch();
      }, Math.ceil(waitMs));
      this.spareLaneTimer.unref();
    }
    return false;
  }

  /** Up to maxBatch pending operations, in arrival order, skipping those whose key is in flight (or, onePerKey, already taken). */
  private takeBatch(): Pending<R>[] {
    if (this.busy.size === 0 && this.pending.length <= this.maxBatch && !this.onePerKey) return this.pending.splice(0);
    const batch: Pending<R>[] = [];
    const rest: Pending<R>[] = [];
    const taken = this.onePerKey ? new Set<string>() : undefined;
    for (const call of this.pending) {
      if (batch.length < this.maxBatch && !this.busy.has(call.key) && !taken?.has(call.key)) {
        batch.push(call);
        taken?.add(call.key);
      } else rest.push(call);
    }
    this.pending = rest;
    return batch;
  }

  private async send(batch: Pending<R>[]): Promise<void> {
    this.inFlight++;
    const sentAt = performance.now();
    this.sentAt.add(sentAt);
    const keys = new Set(batch.map((c) => c.key));
    for (const key of keys) this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    let released = false;
    // When a call returns, what queued meanwhile goes out before the answers are handed back, so
    // the database works on the next batch while this one's callers finish their requests.
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.sentAt.delete(sentAt);
      for (const key of keys) {
        const n = this.busy.get(key)! - 1;
        if (n === 0) this.busy.delete(key);
        else this.busy.set(key, n);
      }
      this.dispatch();
    };
    try {
      if (batch.length === 1) {
        const [call] = batch;
        await call.alone().then(
          (r) => (release(), call.resolve(r)),
          (err) => (release(), call.reject(err)),
        );
        return;
      }
      // Stable: operations on the same key keep their order of arrival.
      batch.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.stats.batches++;
      this.stats.operations += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      let answers: R[];
      try {
        answers = await this.executeBatch(batch.map((c) => c.operation));
        if (answers.length !== batch.length) throw new Error(`batch answered ${answers.length} of ${batch.length} operations`);
      } catch (err) {
        if (isUnavailableError(err)) {
          release();
          for (const c of batch) c.reject(err);
          return;
        }
        // Nothing of the batch was committed: run each operation on its own, off the lane, as
        // operations handed back unrun do.
        this.stats.failed++;
        release();
        await runEachAlone(batch);
        return;
      }
      release();
      const unrun: Pending<R>[] = [];
      batch.forEach((c, i) => (this.runAlone(answers[i]) ? unrun.push(c) : c.resolve(answers[i])));
      if (unrun.length > 0) {
        this.stats.ranAlone += unrun.length;
        await runEachAlone(unrun);
      }
    } finally {
      release();
    }
  }
}

/** Runs calls on their own: one key's calls one after another, in order; different keys at once. */
function runEachAlone<R>(calls: Pending<R>[]): Promise<unknown> {
  const byKey = new Map<string, Pending<R>[]>();
  for (const c of calls) {
    const queue = byKey.get(c.key);
    if (queue) queue.push(c);
    else byKey.set(c.key, [c]);
  }
  return Promise.all(
    [...byKey.values()].map(async (queue) => {
      for (const c of queue) await c.alone().then(c.resolve, c.reject);
    }),
  );
}
