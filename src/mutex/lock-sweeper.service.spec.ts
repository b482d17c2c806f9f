import { AppConfig } from '../config/app-config';
import { LockSweeper } from './lock-sweeper.service';
import { MutexService } from './mutex.service';

describe('LockSweeper.nextDelay', () => {
  /** A sweeper whose next deadline is `dueIn` ms away (a number, or read anew on every call). */
  const sweeperWith = (dueIn: number | null | (() => number | null), interval = 1_000, grace = 50) =>
    new LockSweeper({ nextDeadlineIn: async () => (typeof dueIn === 'function' ? dueIn() : dueIn) } as unknown as MutexService, {
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
    expect(await sweeperWith(-5_000).nextDelay(3)).toBe(20);
    expect(await sweeperWith(-40, 1_000, 0).nextDelay(1)).toBe(20);
  });

  it('backs off while a past deadline cannot be settled (its lock row is held elsewhere), and recovers', async () => {
    let dueIn = -100;
    const sweeper = sweeperWith(() => dueIn);
    const gaps = [];
    for (let i = 0; i < 7; i++) gaps.push(await sweeper.nextDelay(0));
    expect(gaps).toEqual([40, 80, 160, 320, 640, 1_000, 1_000]);
    // Settled at last: back to following deadlines.
    dueIn = 300;
    expect(await sweeper.nextDelay(1)).toBe(350);
    dueIn = -10;
    expect(await sweeper.nextDelay(0)).toBe(40);
  });

  it('a grace as long as the interval turns the deadline sweeps off', async () => {
    expect(await sweeperWith(300, 30_000, 60_000).nextDelay()).toBe(30_000);
  });
});
