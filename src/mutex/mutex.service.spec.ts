import { BadRequestException, ConflictException, ForbiddenException, NotFoundException } from '@nestjs/common';
import { Principal } from '../auth/principal';
import { loadConfig } from '../config/app-config';
import { Ticket } from './domain/ticket';
import { InMemoryLockStore } from './in-memory-lock-store';
import { LockTimers } from './lock-timers.service';
import { MutexEventBus } from './mutex-event-bus';
import { MutexService } from './mutex.service';
import { Wakeups } from './wakeups.service';

/**
 * MutexService on the in-memory lock store (the pure model, the same answers as PostgreSQL by
 * the contract tests): access, validation, idempotency, 409s, long-polls and the side effects of
 * every transition, in milliseconds and without a database. Timers and wake-ups are small fakes
 * that record what the service asks of them.
 */

const T0 = Date.UTC(2030, 0, 1);

/** Records which timers the service arms and disarms; `fire` runs the due handler as a timer would. */
class FakeTimers {
  readonly calls: string[] = [];
  private due?: (ticketId: string) => Promise<void>;
  onDue(handler: (ticketId: string) => Promise<void>) {
    this.due = handler;
  }
  armLease(t: Ticket) {
    this.calls.push(`armLease:${t.id}`);
  }
  armWait(t: Ticket) {
    if (t.waitDeadline) this.calls.push(`armWait:${t.id}`);
  }
  async moveLease(t: Ticket) {
    this.calls.push(`moveLease:${t.id}`);
  }
  /** Like the real one, a no-op when the ticket never had such a timer. */
  disarm(t: Ticket, which: 'all' | 'wait' = 'all') {
    if (t.waitDeadline || (which === 'all' && t.leaseStart)) this.calls.push(`disarm-${which}:${t.id}`);
  }
  fire(ticketId: string) {
    return this.due!(ticketId);
  }
}

/** Wake-ups within one process, as the real service delivers them locally. */
class FakeWakeups {
  readonly notified: string[] = [];
  private readonly waiters = new Map<string, ((t?: Ticket) => void)[]>();
  activePolls = 0;
  closing = false;
  recheckMs = 60_000;
  notify(t: Ticket) {
    this.notified.push(`${t.id}:${t.status}`);
    for (const done of this.waiters.get(t.id) ?? []) done(t);
    this.waiters.delete(t.id);
  }
  wait(ticketId: string, timeoutMs: number) {
    let cancel!: () => void;
    const promise = new Promise<Ticket | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      const done = (t?: Ticket) => {
        clearTimeout(timer);
        resolve(t);
      };
      this.waiters.set(ticketId, [...(this.waiters.get(ticketId) ?? []), done]);
      cancel = () => done();
    });
    return { promise, cancel };
  }
}

const pipeline: Principal = { userId: '00000000-0000-4000-8000-0000000000p1', name: 'pipeline', role: 'application', kind: 'user', repositories: ['org/*'], keyId: 'k1' };
const other: Principal = { ...pipeline, userId: '00000000-0000-4000-8000-0000000000p2', name: 'other' };

function setup() {
  let now = T0;
  const store = new InMemoryLockStore(() => new Date(now));
  const timers = new FakeTimers();
  const wakeups = new FakeWakeups();
  const events = new MutexEventBus();
  const seen: string[] = [];
  for (const e of ['queued', 'granted', 'renewed', 'ended'] as const) events.on(e, (t) => seen.push(`${e}:${t.id}`));
  const mutex = new MutexService(store, timers as unknown as LockTimers, wakeups as unknown as Wakeups, events, loadConfig({ MAX_LEASE_SECONDS: '3600' }));
  const queue = (extra: Partial<Parameters<MutexService['queue']>[1]> = {}, p = pipeline) =>
    mutex.queue(p, { repository: 'org/app', resource: 'uat', leaseSeconds: 60, ...extra });
  return { mutex, store, timers, wakeups, seen, queue, advance: (ms: number) => (now += ms) };
}

describe('MutexService', () => {
  it('grants a free lock at once: arms its lease timer and tells observers', async () => {
    const s = setup();
    const { ticket, replayed } = await s.queue();
    expect([ticket.status, ticket.fencingToken, replayed]).toEqual(['acquired', 1, false]);
    expect(s.timers.calls).toEqual([`armLease:${ticket.id}`]);
    expect(s.seen).toEqual([`queued:${ticket.id}`, `granted:${ticket.id}`]);
    expect(s.wakeups.notified).toEqual([]); // nobody can be polling a ticket granted at once
  });

  it('queues behind the holder with a wait timer, and on release grants it: disarms the wait, arms the lease, wakes its poll', async () => {
    const s = setup();
    const a = (await s.queue()).ticket;
    const b = (await s.queue({ waitTimeoutSeconds: 30 })).ticket;
    expect([b.status, b.queuePosition]).toEqual(['queued', 1]);
    expect(s.timers.calls).toEqual([`armLease:${a.id}`, `armWait:${b.id}`]);
    await s.mutex.release(pipeline, 'org/app', 'uat', a.id);
    expect(s.timers.calls.slice(2)).toEqual([`disarm-wait:${b.id}`, `armLease:${b.id}`, `disarm-all:${a.id}`]);
    expect(s.wakeups.notified).toEqual([`${b.id}:acquired`]);
  });

  it('refuses a repository outside the key’s patterns (403), and bad leases (400 naming the field)', async () => {
    const s = setup();
    await expect(s.mutex.queue(pipeline, { repository: 'elsewhere/app', resource: 'uat', leaseSeconds: 60 })).rejects.toThrow(ForbiddenException);
    await expect(s.queue({ leaseSeconds: 0 })).rejects.toThrow(/leaseDurationSeconds must be between 1 and 3600 seconds/);
    await expect(s.queue({ leaseSeconds: 3601 })).rejects.toThrow(BadRequestException);
    await expect(s.mutex.tryLock(pipeline, { repository: 'org/app', resource: 'x', owner: 'o', leaseSeconds: 0, source: 'dapr' })).rejects.toThrow(/expiryInSeconds/);
  });

  it('replays an Idempotency-Key with the same terms, and answers 409 naming what differs', async () => {
    const s = setup();
    const first = await s.queue({ idempotencyKey: 'k', reason: 'deploy' });
    const again = await s.queue({ idempotencyKey: 'k', reason: 'deploy' });
    expect([again.ticket.id, again.replayed]).toEqual([first.ticket.id, true]);
    await expect(s.queue({ idempotencyKey: 'k', reason: 'other' })).rejects.toThrow(/different reason/);
    await expect(s.queue({ idempotencyKey: 'k', reason: 'deploy', leaseSeconds: 61 })).rejects.toThrow(/different leaseDurationSeconds/);
    await expect(s.mutex.queue(pipeline, { repository: 'org/app', resource: 'prod', leaseSeconds: 60, idempotencyKey: 'k' })).rejects.toThrow(ConflictException);
  });

  it('answers 409 with the reason when a ticket that already ended is released, 404 when it is unknown', async () => {
    const s = setup();
    const a = (await s.queue({ leaseSeconds: 1 })).ticket;
    s.advance(1_000);
    const err = await s.mutex.release(pipeline, 'org/app', 'uat', a.id).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictException);
    expect(err.getResponse()).toMatchObject({ releaseReason: 'expired' });
    await expect(s.mutex.release(pipeline, 'org/app', 'uat', '00000000-0000-4000-8000-000000000999')).rejects.toThrow(NotFoundException);
  });

  it('renews only the holder: a waiter and a lost lease get a 409 that says which', async () => {
    const s = setup();
    const a = (await s.queue({ leaseSeconds: 10 })).ticket;
    const b = (await s.queue()).ticket;
    await expect(s.mutex.renew(pipeline, 'org/app', 'uat', b.id, null)).rejects.toThrow('Ticket does not hold the lock yet');
    s.advance(5_000);
    const renewed = await s.mutex.renew(pipeline, 'org/app', 'uat', a.id, 20);
    expect(renewed.leaseExpiresAt!.getTime()).toBe(T0 + 25_000);
    expect(s.timers.calls).toContain(`moveLease:${a.id}`);
    s.advance(20_000);
    await expect(s.mutex.renew(pipeline, 'org/app', 'uat', a.id, null)).rejects.toThrow('Ticket no longer holds the lock (expired)');
  });

  it('answers a long-poll as soon as its ticket is granted, and says how an ended ticket ended', async () => {
    const s = setup();
    const a = (await s.queue()).ticket;
    const b = (await s.queue()).ticket;
    const poll = s.mutex.acquire(pipeline, 'org/app', 'uat', b.id, 30);
    await new Promise((r) => setImmediate(r));
    expect(s.wakeups.activePolls).toBe(1);
    const started = Date.now();
    await s.mutex.release(other, 'org/app', 'uat', a.id);
    const granted = await poll;
    expect([granted.status, granted.fencingToken]).toEqual(['acquired', 2]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(s.wakeups.activePolls).toBe(0);
    await s.mutex.clear(pipeline, 'org/app', 'uat');
    await expect(s.mutex.acquire(pipeline, 'org/app', 'uat', b.id, 0)).rejects.toThrow('Ticket has ended (cleared)');
  });

  it('settles a lock when a lease timer fires: the expired holder ends and the waiter is granted and woken', async () => {
    const s = setup();
    const a = (await s.queue({ leaseSeconds: 5 })).ticket;
    const b = (await s.queue()).ticket;
    s.advance(5_000);
    await s.timers.fire(a.id);
    expect(s.seen.slice(-2)).toEqual([`granted:${b.id}`, `ended:${a.id}`]);
    expect(s.wakeups.notified).toEqual([`${b.id}:acquired`]);
    expect((await s.mutex.get(pipeline, 'org/app', 'uat', b.id)).status).toBe('acquired');
  });

  it('lets a try-lock take only a free lock with nobody waiting, and a Dapr owner unlock only its own', async () => {
    const s = setup();
    const dapr = (owner: string) => s.mutex.tryLock(pipeline, { repository: 'org/store', resource: 'r', owner, leaseSeconds: 10, source: 'dapr' });
    const held = await dapr('o1');
    expect(held?.owner).toBe('o1');
    expect(await dapr('o2')).toBeNull();
    expect(await s.mutex.releaseOwner(pipeline, 'org/store', 'r', 'o2')).toBe(2);
    expect(await s.mutex.releaseOwner(pipeline, 'org/store', 'r', 'o1')).toBe(0);
    expect(await s.mutex.releaseOwner(pipeline, 'org/store', 'r', 'o1')).toBe(1);
  });
});
