import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MutexService } from './mutex.service';

/**
 * Reconciliation: every instance periodically settles locks whose lease or wait limit is past,
 * so a lost Redis job (Redis flushed or restarted) never leaves a lock held. Runs on a plain
 * timer, not BullMQ, precisely because it must work without Redis.
 */
@Injectable()
export class LockSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LockSweeper.name);
  /** Sweeps run, sweeps that failed, transitions they made (leases expired, waiters timed out, grants). */
  readonly stats = { runs: 0, failures: 0, transitions: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const tick = () => {
      this.running = this.runOnce()
        .catch((err) => {
          this.stats.failures++;
          this.logger.warn(`sweep failed: ${err.message}`);
        })
        .finally(() => {
          this.running = undefined;
          if (this.timer !== null) this.timer = setTimeout(tick, this.config.SWEEP_INTERVAL_MS);
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

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null as unknown as undefined;
    await this.running;
  }
}
