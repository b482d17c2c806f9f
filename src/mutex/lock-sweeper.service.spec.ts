import { AppConfig } from '../config/app-config';
import { LockSweeper } from './lock-sweeper.service';
import { MutexService } from './mutex.service';

describe('LockSweeper.nextDelay', () => {
  const sweeperWith = (dueIn: number | null, interval = 1_000, grace = 50) =>
    new LockSweeper({ nextDeadlineIn: async () => dueIn } as unknown as MutexService, {
      SWEEP_INTERVAL_MS: interval,
      SWEEP_DEADLINE_GRACE_MS: grace,
    } as AppConfig);

  it('waits the interval when nothing is due before it', async () => {
    expect(await sweeperWith(null).nextDelay()).toBe(1_000);
    expect(await sweeperWith(5_000).nextDelay()).toBe(1_000);
    expect(await sweeperWith(980).nextDelay()).toBe(1_000);
  });

  it('runs the grace after a deadline that comes sooner', async () => {
    expect(await sweeperWith(300).nextDelay()).toBe(350);
    expect(await sweeperWith(0.2).nextDelay()).toBe(51);
    expect(await sweeperWith(300, 10_000, 0).nextDelay()).toBe(300);
  });

  it('never sweeps back to back, even with deadlines already past', async () => {
    expect(await sweeperWith(-5_000).nextDelay()).toBe(20);
    expect(await sweeperWith(-40, 1_000, 0).nextDelay()).toBe(20);
  });

  it('a grace as long as the interval turns the deadline sweeps off', async () => {
    expect(await sweeperWith(300, 30_000, 60_000).nextDelay()).toBe(30_000);
  });
});
