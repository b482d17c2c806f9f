import { BeforeApplicationShutdown, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';
import { DeadlineJobs } from './deadline-jobs';
import { Ticket } from './domain/ticket';
import { leaseJobId, waitJobId } from './mutex.constants';

/** How long a new timer waits in memory before it is written to Redis (with others, in one batch). */
const FLUSH_MS = 50;
/** A check fires this many ms after the deadline: a little late rather than early, since the database clock decides. */
const LATE_MS = 2;
/** setTimeout's longest delay; a longer one is re-armed when it fires. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/**
 * A stopping instance hands the in-process timers due within this window to the others. Later
 * ones are safe with BullMQ alone: an idle worker re-reads the delayed set at least every 10 s.
 */
const HAND_OVER_MS = 60_000;
/**
 * In-process timers kept at most. A ticket granted here but released through another instance
 * keeps its timer until its lease end (nobody tells this instance), so under a flood of long
 * leases memory is capped here; past the cap, deadlines rely on their BullMQ jobs alone (on time
 * to Redis's tick, and a busy Redis ticks far more often).
 */
const MAX_IN_PROCESS = 50_000;
/** Shutdown waits this long at most for Redis (it may be the reason we are stopping). */
const SHUTDOWN_WAIT_MS = 2_000;

interface Deadline {
  jobId: string;
  ticketId: string;
  at: number;
}

interface PendingJob extends Deadline {
  armedAt: number;
}

interface LocalTimer extends Deadline {
  timer: NodeJS.Timeout;
}

interface HandedOver {
  jobId: string;
  ticketId: string;
  inMs: number;
}

/**
 * When `deadline` passes, on this host's clock. It is measured on the database's clock from
 * `setAt`, the moment the same transaction set it, and counted from now, when its answer has
 * just arrived: so a timer is never early, whatever the skew between this host's clock and the
 * database's (an early check would find nothing to do and leave the lease to the sweep), and at
 * most a round trip late.
 */
function fromNow(deadline: Date, setAt: Date): number {
  return Date.now() + Math.max(0, deadline.getTime() - setAt.getTime());
}

/** A held ticket's lease end: set by its grant or, since, by its latest renewal. */
function leaseEnd(t: Ticket): number | null {
  if (!t.leaseExpiresAt || !t.leaseStart) return null;
  const setAt = t.renewedAt && t.renewedAt > t.leaseStart ? t.renewedAt : t.leaseStart;
  return fromNow(t.leaseExpiresAt, setAt);
}

/**
 * Schedules "look at this ticket now" jobs for lease ends and wait limits (DeadlineJobs: BullMQ
 * with Redis; without Redis there is nothing durable to write). A job only triggers a re-check in
 * PostgreSQL, so a stale or duplicate job changes nothing, and a lost one is caught by the sweep.
 * Calls never throw: Redis being down must not fail a lock operation.
 *
 * Each deadline is also kept as an in-process timer on the instance that armed it, which runs
 * the same check on time. BullMQ alone is up to 1/hz late (100 ms with Redis's default hz 10):
 * an idle Redis wakes its blocked worker only on its server tick. The BullMQ job stays the
 * durable copy for when this instance dies; whichever check runs second finds nothing to do,
 * and the first one's disarm removes the job while it is still delayed. A stopping instance
 * publishes its near deadlines and the others keep them: BullMQ wakes for a delayed job only
 * the worker that took its marker, which may be the one stopping.
 *
 * A new timer is written to Redis once it has waited FLUSH_MS in memory (with the others due
 * then, in one batch), so a ticket that ends within FLUSH_MS of its grant costs no Redis call at
 * all: most short holds never touch Redis. Safe because leases and wait limits last at least a
 * second, and the sweep covers an instance that dies with timers still in memory.
 */
@Injectable()
export class LockTimers implements OnModuleInit, BeforeApplicationShutdown, OnModuleDestroy {
  private readonly logger = new Logger(LockTimers.name);
  private readonly pending = new Map<string, PendingJob>();
  private readonly local = new Map<string, LocalTimer>();
  private due?: (ticketId: string) => Promise<void>;
  private readonly handOverChannel: string;
  /** Checks run by in-process timers and by BullMQ jobs; deadlines handed to other instances at stop, and taken from them. */
  readonly stats = { inProcessChecks: 0, bullmqChecks: 0, handedOver: 0, takenOver: 0, overCap: 0 };
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly jobs: DeadlineJobs,
    private readonly redis: RedisService,
  ) {
    this.handOverChannel = redis.key('lock-timers-hand-over');
  }

  async onModuleInit(): Promise<void> {
    await this.redis.subscribe(this.handOverChannel, (message) => this.takeOver(message));
  }

  /** In-process timers armed right now. */
  get armed(): number {
    return this.local.size;
  }

  /** Who settles a ticket whose in-process timer fired (the mutex service's check). */
  onDue(handler: (ticketId: string) => Promise<void>): void {
    this.due = handler;
  }

  /** A ticket was granted: arm its lease timer. */
  armLease(ticket: Ticket): void {
    const at = leaseEnd(ticket);
    if (at !== null) this.defer(leaseJobId(ticket.id), ticket.id, at);
  }

  /** A ticket was queued with a wait limit. */
  armWait(ticket: Ticket): void {
    if (ticket.waitDeadline) this.defer(waitJobId(ticket.id), ticket.id, fromNow(ticket.waitDeadline, ticket.createdAt));
  }

  /** A lease was renewed: move its timer (written at once; renewals are rare). */
  async moveLease(ticket: Ticket): Promise<void> {
    const at = leaseEnd(ticket);
    if (at === null) return;
    const jobId = leaseJobId(ticket.id);
    this.pending.delete(jobId);
    this.armLocal(jobId, ticket.id, at);
    try {
      await this.jobs.move({ jobId, ticketId: ticket.id, delayMs: this.delayUntil(at) });
    } catch (err) {
      this.logger.warn(`move ${jobId}: ${(err as Error).message}`);
    }
  }

  /** A ticket was granted (its wait timer is moot) or ended (both are). */
  disarm(ticket: Ticket, which: 'all' | 'wait' = 'all'): void {
    const ids: string[] = [];
    if (ticket.waitDeadline) ids.push(waitJobId(ticket.id));
    if (which === 'all' && ticket.leaseStart) ids.push(leaseJobId(ticket.id));
    for (const id of ids) this.disarmLocal(id);
    const written = ids.filter((id) => !this.pending.delete(id));
    if (written.length === 0) return;
    this.jobs.remove(written).catch((err) => this.logger.warn(`disarm ${ticket.id}: ${err.message}`));
  }

  private defer(jobId: string, ticketId: string, at: number): void {
    this.pending.delete(jobId); // re-armed: to the back, so the map stays in arming order
    this.pending.set(jobId, { jobId, ticketId, at, armedAt: Date.now() });
    if (!this.flushTimer) this.flushTimer = setTimeout(() => void this.flush(), FLUSH_MS);
    this.armLocal(jobId, ticketId, at);
  }

  private armLocal(jobId: string, ticketId: string, at: number): void {
    if (!this.due) return;
    this.disarmLocal(jobId);
    if (this.local.size >= MAX_IN_PROCESS) {
      this.stats.overCap++;
      return;
    }
    const timer = setTimeout(() => {
      if (Date.now() < at + LATE_MS) return this.armLocal(jobId, ticketId, at); // a capped delay, or fired early
      this.local.delete(jobId);
      if (!this.due) return;
      this.stats.inProcessChecks++;
      this.due(ticketId).catch((err) => this.logger.warn(`check ${ticketId} (its durable job and the sweep will retry): ${err.message}`));
    }, Math.min(Math.max(at + LATE_MS - Date.now(), 0), MAX_TIMEOUT_MS));
    timer.unref(); // the durable copies are in Redis and PostgreSQL: never keep the process alive
    this.local.set(jobId, { jobId, ticketId, at, timer });
  }

  private disarmLocal(jobId: string): void {
    const local = this.local.get(jobId);
    if (local === undefined) return;
    clearTimeout(local.timer);
    this.local.delete(jobId);
  }

  /** Another instance is stopping: keep its near deadlines (a duplicate check changes nothing). */
  private takeOver(message: string): void {
    let deadlines: unknown;
    try {
      deadlines = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(deadlines)) return;
    for (const d of deadlines as Partial<HandedOver>[]) {
      if (typeof d?.jobId === 'string' && typeof d.ticketId === 'string' && Number.isFinite(d.inMs) && this.due) {
        this.armLocal(d.jobId, d.ticketId, Date.now() + Math.min(d.inMs!, HAND_OVER_MS));
        this.stats.takenOver++;
      }
    }
  }

  /** Writes the pending timers that have waited FLUSH_MS (with `all`, every one) in one round trip. */
  flush(all = false): Promise<void> {
    this.flushTimer = undefined;
    const ripe = Date.now() - FLUSH_MS;
    const batch: PendingJob[] = [];
    // A Map iterates in insertion order: oldest first.
    for (const job of this.pending.values()) {
      if (!all && job.armedAt > ripe) {
        this.flushTimer = setTimeout(() => void this.flush(), job.armedAt - ripe);
        break;
      }
      batch.push(job);
    }
    if (batch.length === 0) return this.flushing;
    for (const job of batch) this.pending.delete(job.jobId);
    this.flushing = this.jobs
      .add(batch.map((j) => ({ jobId: j.jobId, ticketId: j.ticketId, delayMs: this.delayUntil(j.at) })))
      .catch((err) => this.logger.warn(`cannot write ${batch.length} lock timers (the sweep will cover them): ${err.message}`));
    return this.flushing;
  }

  private delayUntil(at: number): number {
    return Math.max(0, at - Date.now() + LATE_MS);
  }

  /** The other instances (near deadlines, at once), BullMQ and the sweep take over the deadlines kept here. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    const now = Date.now();
    // Remaining time, not a timestamp: the receiver's clock need not agree with ours.
    const near = [...this.local.values()].filter((t) => t.at <= now + HAND_OVER_MS).map(({ jobId, ticketId, at }) => ({ jobId, ticketId, inMs: at - now }));
    this.stopLocal(); // before publishing: this instance ignores its own hand-over
    this.stats.handedOver += near.length;
    const handOver = near.length > 0 ? this.redis.publish(this.handOverChannel, JSON.stringify(near)) : undefined;
    const wait = new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref());
    await Promise.race([Promise.all([handOver, this.flush(true)]), wait]);
  }

  /** Runs before beforeApplicationShutdown: the in-process timers stay for the hand-over there. */
  onModuleDestroy(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }

  private stopLocal(): void {
    this.due = undefined;
    for (const local of this.local.values()) clearTimeout(local.timer);
    this.local.clear();
  }
}
