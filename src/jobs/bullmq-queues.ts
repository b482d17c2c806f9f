import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { RedisConnection, RedisConnections } from '../redis/redis-connections';

type JobHandler = (job: Job) => Promise<unknown>;

/** Shutdown waits this long for BullMQ to close politely. */
const CLOSE_WAIT_MS = 3_000;

interface QueueEntry {
  queue: Queue;
  handlers: Map<string, JobHandler>;
  concurrency: number;
  worker?: Worker;
}

/**
 * The BullMQ queues of this instance and one worker per queue, which hands each job to the
 * handler registered for its name. Workers start once the application is bootstrapped (every
 * handler registered by then) and stop at shutdown, after the last jobs were written.
 * Redis outages are expected and survivable (PostgreSQL and the sweep cover them): errors are
 * logged as warnings, never thrown at callers.
 */
@Injectable()
export class BullmqQueues implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(BullmqQueues.name);
  private readonly entries = new Map<string, QueueEntry>();
  private readonly options: ReturnType<RedisConnections['bullmq']>;
  private started = false;

  constructor(connections: RedisConnections) {
    this.options = connections.bullmq();
  }

  /** The queue named `name`, opened on first use; `concurrency` is its worker's (the first caller's says). */
  queue(name: string, concurrency = 1): Queue {
    return this.entry(name, concurrency).queue;
  }

  /** Runs `handler` for the jobs called `jobName` on queue `queueName`. */
  handle(queueName: string, jobName: string, handler: JobHandler, concurrency = 1): void {
    const entry = this.entry(queueName, concurrency);
    entry.handlers.set(jobName, handler);
    if (this.started) this.startWorker(queueName, entry);
  }

  private entry(name: string, concurrency: number): QueueEntry {
    let entry = this.entries.get(name);
    if (!entry) {
      const queue = new Queue(name, { connection: this.options.connection, prefix: this.options.prefix });
      queue.on('error', (err) => this.logger.warn(`${name} queue: ${err.message}`));
      entry = { queue, handlers: new Map(), concurrency };
      this.entries.set(name, entry);
    }
    return entry;
  }

  onApplicationBootstrap(): void {
    this.started = true;
    for (const [name, entry] of this.entries) this.startWorker(name, entry);
  }

  private startWorker(name: string, entry: QueueEntry): void {
    if (entry.worker || entry.handlers.size === 0) return;
    const worker = new Worker(
      name,
      async (job: Job) => {
        const handler = entry.handlers.get(job.name);
        // Failing (not completing) keeps the job for its retries: a handler may register late.
        if (!handler) throw new Error(`no handler for job '${job.name}' on queue '${name}'`);
        return handler(job);
      },
      { connection: this.options.connection, prefix: this.options.prefix, concurrency: entry.concurrency },
    );
    worker.on('error', (err) => this.logger.warn(`${name} worker: ${err.message}`));
    entry.worker = worker;
  }

  /**
   * Closes workers (each waits for its job in progress), then queues, then a shared connection.
   * A Redis that is away makes BullMQ wait for it: shutdown goes on after 3 s and leaves the
   * closing to finish when Redis answers (forcing it would leave BullMQ retrying a closed
   * connection in a tight loop; the process exits anyway).
   */
  async onApplicationShutdown(): Promise<void> {
    const entries = [...this.entries.values()];
    const closed = (async () => {
      await Promise.allSettled(entries.map((e) => e.worker?.close()));
      await Promise.allSettled(entries.map((e) => e.queue.close()));
      await closeShared(this.options.shared);
      return true;
    })();
    if (!(await Promise.race([closed, new Promise<false>((r) => setTimeout(() => r(false), CLOSE_WAIT_MS).unref())]))) {
      this.logger.warn(`BullMQ is still closing after ${CLOSE_WAIT_MS / 1000} s (Redis away?): stopping without waiting for it`);
    }
  }
}

/** A connection BullMQ shared (a Cluster's) is closed by its owner, politely but within a second. */
async function closeShared(conn: RedisConnection | null): Promise<void> {
  if (!conn) return;
  await Promise.race([conn.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
  conn.disconnect();
}
