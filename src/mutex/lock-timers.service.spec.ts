import { RedisService } from '../redis/redis.service';
import { DeadlineJob, DeadlineJobs } from './deadline-jobs';
import { Ticket } from './domain/ticket';
import { LockTimers } from './lock-timers.service';

/** Pub/sub between the instances of one test, as Redis would carry it. */
function redisBus() {
  const handlers = new Map<string, ((message: string) => void)[]>();
  const published: string[] = [];
  const connect = () =>
    ({
      key: (...parts: string[]) => ['test', ...parts].join(':'),
      subscribe: async (channel: string, handler: (message: string) => void) => {
        handlers.set(channel, [...(handlers.get(channel) ?? []), handler]);
      },
      publish: async (channel: string, message: string) => {
        published.push(message);
        for (const h of handlers.get(channel) ?? []) h(message);
      },
    }) as unknown as RedisService;
  return { connect, published };
}

/** Records what would be written to the durable store (BullMQ): the point is which calls happen, and when. */
function recordingQueue() {
  const calls: { op: string; ids: string[]; delays?: number[] }[] = [];
  class RecordingJobs extends DeadlineJobs {
    async add(jobs: DeadlineJob[]) {
      calls.push({ op: 'addBulk', ids: jobs.map((j) => j.jobId), delays: jobs.map((j) => j.delayMs) });
    }
    async move(job: DeadlineJob) {
      calls.push({ op: 'remove', ids: [job.jobId] });
      calls.push({ op: 'add', ids: [job.jobId], delays: [job.delayMs] });
    }
    async remove(ids: string[]) {
      calls.push({ op: 'remove', ids });
    }
    onDue() {}
  }
  return { queue: new RecordingJobs(), calls };
}

const granted = (id: string, leaseMs: number): Ticket =>
  ({ id, status: 'acquired', leaseStart: new Date(), leaseExpiresAt: new Date(Date.now() + leaseMs), waitDeadline: null }) as unknown as Ticket;

describe('LockTimers', () => {
  beforeEach(() => jest.useFakeTimers({ now: new Date('2026-12-01T12:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('a lease that ends within the flush delay never reaches Redis', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue, redisBus().connect());
    const t = granted('a', 60_000);
    timers.armLease(t);
    await jest.advanceTimersByTimeAsync(30);
    timers.disarm(t);
    await jest.advanceTimersByTimeAsync(500);
    expect(calls).toEqual([]);
  });

  it('writes a lease once it has waited the flush delay, due at the lease end; its release then removes it', async () => {
    const { queue, calls } = recordingQueue();
    const timers = new LockTimers(queue, redisBus().connect());
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
    const timers = new LockTimers(queue, redisBus().connect());
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
    const timers = new LockTimers(queue, redisBus().connect());
    timers.armLease(granted('a', 60_000));
    await timers.beforeApplicationShutdown();
    expect(calls.map((c) => c.ids)).toEqual([['lease-a']]);
  });

  describe('in-process timers', () => {
    const withChecks = () => {
      const { queue, calls } = recordingQueue();
      const timers = new LockTimers(queue, redisBus().connect());
      const checked: { id: string; at: number }[] = [];
      timers.onDue(async (id) => void checked.push({ id, at: Date.now() }));
      return { timers, calls, checked };
    };

    it('checks the ticket on this instance 2 ms after its lease end, without waiting for Redis', async () => {
      const { timers, checked } = withChecks();
      const t = granted('a', 1_000);
      const end = t.leaseExpiresAt!.getTime();
      timers.armLease(t);
      await jest.advanceTimersByTimeAsync(1_001);
      expect(checked).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(checked).toEqual([{ id: 'a', at: end + 2 }]);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(checked).toHaveLength(1);
    });

    it('times a deadline on the database clock, so a skewed host clock never makes it early or late', async () => {
      for (const skewMs of [-5_000, 5_000]) {
        const { timers, checked } = withChecks();
        const dbNow = Date.now() + skewMs; // the database's clock, 5 s behind or ahead of ours
        const t = { id: `skew${skewMs}`, status: 'acquired', leaseStart: new Date(dbNow), leaseExpiresAt: new Date(dbNow + 1_000), renewedAt: null, waitDeadline: null } as unknown as Ticket;
        const armedAt = Date.now();
        timers.armLease(t);
        await jest.advanceTimersByTimeAsync(999);
        expect(checked).toEqual([]);
        await jest.advanceTimersByTimeAsync(10);
        expect(checked).toEqual([{ id: t.id, at: armedAt + 1_002 }]);
        timers.disarm(t);
      }
    });

    it('checks a wait limit on time too', async () => {
      const { timers, checked } = withChecks();
      const t = { id: 'w', status: 'queued', leaseStart: null, leaseExpiresAt: null, createdAt: new Date(), waitDeadline: new Date(Date.now() + 5_000) } as unknown as Ticket;
      timers.armWait(t);
      await jest.advanceTimersByTimeAsync(5_002);
      expect(checked.map((c) => c.id)).toEqual(['w']);
    });

    it('a released ticket is never checked', async () => {
      const { timers, checked } = withChecks();
      const t = granted('a', 1_000);
      timers.armLease(t);
      await jest.advanceTimersByTimeAsync(500);
      timers.disarm(t);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(checked).toEqual([]);
    });

    it('a renewal moves the check to the new lease end', async () => {
      const { timers, checked } = withChecks();
      const t = granted('a', 1_000);
      timers.armLease(t);
      await jest.advanceTimersByTimeAsync(500);
      const renewed = { ...t, renewedAt: new Date(), leaseExpiresAt: new Date(Date.now() + 3_000) } as Ticket;
      await timers.moveLease(renewed);
      await jest.advanceTimersByTimeAsync(2_999);
      expect(checked).toEqual([]);
      await jest.advanceTimersByTimeAsync(3);
      expect(checked.map((c) => c.at)).toEqual([renewed.leaseExpiresAt!.getTime() + 2]);
    });

    it('a deadline beyond setTimeout\'s range fires at its time, not at once', async () => {
      const { timers, checked } = withChecks();
      const t = granted('a', 30 * 86_400_000);
      timers.armLease(t);
      await jest.advanceTimersByTimeAsync(25 * 86_400_000);
      expect(checked).toEqual([]);
      await jest.advanceTimersByTimeAsync(5 * 86_400_000 + 2);
      expect(checked.map((c) => c.at)).toEqual([t.leaseExpiresAt!.getTime() + 2]);
    });

    it('stops at shutdown, leaving its deadlines to Redis and the sweep', async () => {
      const { timers, calls, checked } = withChecks();
      timers.armLease(granted('a', 1_000));
      await timers.beforeApplicationShutdown();
      await jest.advanceTimersByTimeAsync(5_000);
      expect(checked).toEqual([]);
      expect(calls.map((c) => c.ids)).toEqual([['lease-a']]);
    });

    it('keeps at most 50,000 timers in memory; past that, deadlines are left to BullMQ', async () => {
      jest.useRealTimers(); // fake timers crawl with 50,000 of them
      const { timers, calls } = withChecks();
      for (let i = 0; i < 50_001; i++) timers.armLease(granted(`t${i}`, 3_600_000));
      expect(timers.armed).toBe(50_000);
      expect(timers.stats.overCap).toBe(1);
      await timers.beforeApplicationShutdown();
      expect(calls[0].ids).toHaveLength(50_001); // every one still has its BullMQ job
      expect(timers.armed).toBe(0);
    });

    it('a failed check is logged, not thrown', async () => {
      const { queue } = recordingQueue();
      const timers = new LockTimers(queue, redisBus().connect());
      timers.onDue(async () => {
        throw new Error('database unavailable');
      });
      const warn = jest.spyOn((timers as unknown as { logger: { warn: () => void } }).logger, 'warn').mockImplementation(() => undefined);
      timers.armLease(granted('a', 100));
      await jest.advanceTimersByTimeAsync(200);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('database unavailable'));
    });

    it('a stopping instance hands its near deadlines to the others, which check them on time', async () => {
      const bus = redisBus();
      const stopping = new LockTimers(recordingQueue().queue, bus.connect());
      const other = new LockTimers(recordingQueue().queue, bus.connect());
      const checked: { by: string; id: string; at: number }[] = [];
      stopping.onDue(async (id) => void checked.push({ by: 'stopping', id, at: Date.now() }));
      other.onDue(async (id) => void checked.push({ by: 'other', id, at: Date.now() }));
      await Promise.all([stopping.onModuleInit(), other.onModuleInit()]);
      const near = granted('near', 1_000);
      stopping.armLease(near);
      stopping.armLease(granted('far', 2 * 3_600_000)); // left to BullMQ
      await stopping.beforeApplicationShutdown();
      expect(bus.published.map((m) => JSON.parse(m).map((d: { ticketId: string }) => d.ticketId))).toEqual([['near']]);
      await jest.advanceTimersByTimeAsync(120_000);
      expect(checked).toEqual([{ by: 'other', id: 'near', at: near.leaseExpiresAt!.getTime() + 2 }]);
    });

    it('ignores hand-over messages it cannot read', async () => {
      const bus = redisBus();
      const timers = new LockTimers(recordingQueue().queue, bus.connect());
      const checked: string[] = [];
      timers.onDue(async (id) => void checked.push(id));
      await timers.onModuleInit();
      const redis = bus.connect();
      for (const junk of ['not json', '{"a":1}', '[null, 3, {"jobId": 1}]', JSON.stringify([{ jobId: 'lease-x', ticketId: 'x', inMs: 'soon' }])]) {
        await redis.publish(redis.key('lock-timers-hand-over'), junk);
      }
      await jest.advanceTimersByTimeAsync(120_000);
      expect(checked).toEqual([]);
    });
  });
});
