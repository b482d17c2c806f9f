import { isUnavailableError } from '../common/unavailable';

/** One lock operation waiting for its turn: how to run it in a batch, and alone. */
export interface LockCall<R> {
  /** The lock it changes (repository + resource): batches take their locks in this order. */
  lockKey: string;
  /** Its element of the batch (see `mutex_batch` in the migrations). */
  batchArgs: unknown[];
  /** The same operation as a call of its own. */
  alone: () => Promise<R>;
}

export interface BatchExecutor<R> {
  /** Runs the operations in one transaction, in order; one answer each, in the same order. */
  (batch: unknown[][]): Promise<R[]>;
}

interface Pending<R> extends LockCall<R> {
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Groups concurrent lock operations into one database call and one transaction, so requests that
 * arrive together share a round trip and a commit. Nothing waits on a timer: an operation goes
 * out at the end of the current event-loop turn when fewer than `maxInFlight` batches are running,
 * otherwise with the next batch as soon as one returns (the busier the service, the larger the
 * batches). An operation alone in its batch is sent as its own call.
 *
 * Each operation still runs under its own lock's row lock. A batch takes its locks in lockKey
 * order, so two batches never wait on each other in opposite orders; a failure inside a batch
 * (a deadlock with a caller outside this scheme, a bug) rolls it back as a whole and every
 * operation in it is retried on its own, so only an operation that fails alone fails.
 */
export class LockCallBatcher<R> {
  /** What went out as batches so far (operations sent alone are not counted). */
  readonly stats = { batches: 0, operations: 0, largest: 0 };
  private pending: Pending<R>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly executeBatch: BatchExecutor<R>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 64,
  ) {}

  run(call: LockCall<R>): Promise<R> {
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
      void this.send(this.pending.splice(0, this.maxBatch));
    }
  }

  private async send(batch: Pending<R>[]): Promise<void> {
    this.inFlight++;
    let released = false;
    // When a call returns, what queued meanwhile goes out before the answers are handed back, so
    // the database works on the next batch while this one's callers finish their requests.
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight--;
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
      // Stable: operations on the same lock keep their order of arrival.
      batch.sort((a, b) => (a.lockKey < b.lockKey ? -1 : a.lockKey > b.lockKey ? 1 : 0));
      this.stats.batches++;
      this.stats.operations += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      let answers: R[];
      try {
        answers = await this.executeBatch(batch.map((c) => c.batchArgs));
        if (answers.length !== batch.length) throw new Error(`batch answered ${answers.length} of ${batch.length} operations`);
      } catch (err) {
        if (isUnavailableError(err)) {
          release();
          for (const c of batch) c.reject(err);
          return;
        }
        // Nothing of the batch was committed: run each operation on its own.
        await Promise.all(batch.map((c) => c.alone().then(c.resolve, c.reject)));
        return;
      }
      release();
      batch.forEach((c, i) => c.resolve(answers[i]));
    } finally {
      release();
    }
  }
}
