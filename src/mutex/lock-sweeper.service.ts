import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MutexService } from './mutex.service';

/** Sweeps never follow each other closer than this, however many deadlines crowd together. */
const MIN_SWEEP_GAP_MS = 20;

/**
 * Reconciliation: every instance settles locks whose lease or wait limit is past, so a lost
 * timer (its instance died before the BullMQ job was written, or Redis lost the job) never leaves
 * a lock held. It runs at most SWEEP_INTERVAL_MS apart, and also SWEEP_DEADLINE_GRACE_MS after
 * the earliest deadline it knows of, which the instance that armed that deadline's timer will
 * normally have settled already. Any lease lasts at least 1 s, longer than the interval's default,
 * so a sweep learns of a deadline before it is due. Runs on a plain timer, not BullMQ, precisely
 * because it must work without Redis.
 */
@Injectable()
export class LockSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LockSweeper.name);
  /** Sweeps run, sweeps that failed, transitions they made (leases expired, waiters timed out, grants). */
  readonly stats = { runs: 0, failures: 0, transitions: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  /** The gap before retrying a past deadline that the last sweeps could not settle. */
  private stalledGap = MIN_SWEEP_GAP_MS;

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const tick = () => {
      this.running = this.runOnce()
        .then((settled) => this.nextDelay(settled))
        .catch((err) => {
          this.stats.failures++;
          this.logger.warn(`sweep failed: ${err.message}`);
          return this.config.SWEEP_INTERVAL_MS;
        })
        .then((delay) => {
          this.running = undefined;
          if (this.timer !== null) this.timer = setTimeout(tick, delay);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async runOnce(): Promise<number> {
    this.stats.runs++;
    let total = 0;
    // Drain in batches when a lot came due at once (e.g. after an outage).
    for (let i = 0; i < 50; i++) {
      const n = await this.mutex.sweep(200);
      total += n;
      this.stats.transitions += n;
      if (n < 200) break;
    }
    return total;
  }

  /**
   * Until the next sweep: the interval, or sooner when a deadline comes due before it. A deadline
   * already past that this sweep could not settle (another transaction holds its lock's row) is
   * retried at doubling gaps, not every 20 ms for as long as that transaction lasts.
   */
  async nextDelay(settled = 0): Promise<number> {
    const interval = this.config.SWEEP_INTERVAL_MS;
    const dueIn = await this.mutex.nextDeadlineIn();
    if (dueIn !== null && dueIn <= 0 && settled === 0) {
      this.stalledGap = Math.min(interval, this.stalledGap * 2);
      return this.stalledGap;
    }
    this.stalledGap = MIN_SWEEP_GAP_MS;
    if (dueIn === null) return interval;
    return Math.min(interval, Math.max(MIN_SWEEP_GAP_MS, Math.ceil(dueIn) + this.config.SWEEP_DEADLINE_GRACE_MS));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null as unknown as undefined;
    await this.running;
  }
}
