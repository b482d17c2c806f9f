import { Queue } from 'bullmq';
import { Ticket } from './domain/ticket';
import { LockTimers } from './lock-timers.service';

/** Records what would be written to Redis: the point is which calls happen, and when. */
function recordingQueue() {
  const calls: { op: string; ids: string[]; delays?: number[] }[] = [];
  const queue = {
    on: () => queue,
    addBulk: async (jobs: { opts: { jobId: string; delay: number } }[]) => {
      calls.push({ op: 'addBulk', ids: jobs.map((j) => j.opts.jobId), delays: jobs.map((j) => j.opts.delay) });
      return [];
    },
    add: async (_name: string, _data: unknown, opts: { jobId: string; delay: number }) => {
      calls.push({ op: 'add', ids: [opts.jobId], delays: [opts.delay] });
      return {};
    },
    remove: async (id: string) => {
      calls.push({ op: 'remove', ids: [id] });
      return 1;
    },
  };
  return { queue: queue as unknown as Queue, calls };
}

const granted = (id: string, leaseMs: number): Ticket =>
  ({ id, status: 'acquired', leaseStart: new Date(), leaseExpiresAt: new Date(Date.now() + leaseMs), waitDeadline: null }) as unknown as Ticket;

describe('LockTimers', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-12-01T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('a lease that ends within the flush delay never reaches Redis', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue);
    const t = granted('a', 60_000);
    timers.armLease(t);
    await jest.advanceTimersByTimeAsync(30);
    timers.disarm(t);
    await jest.advanceTimersByTimeAsync(500);
    expect(calls).toEqual([]);
  });

  it('writes a lease once it has waited the flush delay, due at the lease end; its release then removes it', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue);
    const t = granted('a', 60_000);
    timers.armLease(t);
    await jest.advanceTimersByTimeAsync(49);
    expect(calls).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([{ op: 'addBulk', ids: ['lease-a'], delays: [60_000 - 50 + 2] }]);
    timers.disarm(t);
    await jest.advanceTimersByTimeAsync(0);
    expect(calls[1]).toEqual({ op: 'remove', ids: ['lease-a'] });
  });

  it('writes old timers in one batch and leaves younger ones for the next', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue);
    timers.armLease(granted('a', 60_000));
    timers.armLease(granted('b', 60_000));
    await jest.advanceTimersByTimeAsync(30);
    timers.armLease(granted('c', 60_000));
    await jest.advanceTimersByTimeAsync(20);
    expect(calls.map((c) => c.ids)).toEqual([['lease-a', 'lease-b']]);
    await jest.advanceTimersByTimeAsync(30);
    expect(calls.map((c) => c.ids)).toEqual([['lease-a', 'lease-b'], ['lease-c']]);
  });

  it('writes every pending timer at shutdown, however young', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue);
    timers.armLease(granted('a', 60_000));
    await timers.beforeApplicationShutdown();
    expect(calls.map((c) => c.ids)).toEqual([['lease-a']]);
  });
});
