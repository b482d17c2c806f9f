import { HttpAdapterHost } from '@nestjs/core';
import { Ticket } from '../mutex/domain/ticket';
import { MutexEventBus } from '../mutex/mutex-event-bus';
import { LockSweeper } from '../mutex/lock-sweeper.service';
import { LockTimers } from '../mutex/lock-timers.service';
import { LockStore } from '../mutex/lock-store';
import { LockGaugeQueries } from './lock-gauge.queries';
import { Wakeups } from '../mutex/wakeups.service';
import { MetricsService } from './metrics.service';

const ticket = (over: Partial<Ticket>): Ticket =>
  ({
    id: 't',
    lockId: 1,
    repository: 'acme/web',
    resource: 'uat',
    status: 'acquired',
    source: 'sfp',
    createdAt: new Date('2026-01-01T12:00:00Z'),
    leaseStart: null,
    releasedAt: null,
    releaseReason: null,
    ...over,
  }) as Ticket;

const unlimited = { userId: 'u', name: 'scraper', role: 'member', kind: 'user', repositories: null, keyId: 'k' } as const;

describe('MetricsService', () => {
  const bus = new MutexEventBus();
  const hooks: Array<(req: any, reply: any, done: () => void) => void> = [];
  const host = { httpAdapter: { getInstance: () => ({ addHook: (_: string, h: any) => hooks.push(h) }) } } as unknown as HttpAdapterHost;
  const gauges = {
    read: async () => ({
      held: 2,
      waiting: 5,
      waitingByKind: { single: 3, set: 1, pool: 1 },
      holdingByKind: { single: 1, set: 0, pool: 1 },
      stuck: 1,
      locks: [{ repository: 'acme/web', resource: 'uat', queueDepth: 5, holders: 1 }],
      pools: [{ repository: 'acme/web', pool: 'uat-orgs', free: 1, held: 2, waiting: 1 }],
    }),
  } as unknown as LockGaugeQueries;
  const batchStats = { batches: 3, operations: 17, largest: 9, ranAlone: 2, failed: 1 };
  const locks = { batchStats: () => batchStats } as unknown as LockStore;
  const sweeper = { stats: { runs: 7, failures: 1, transitions: 4 } } as unknown as LockSweeper;
  const timers = { stats: { inProcessChecks: 11, bullmqChecks: 2, handedOver: 3, takenOver: 5, overCap: 4 }, armed: 6 } as unknown as LockTimers;
  const metrics = new MetricsService(bus, gauges, host, locks, sweeper, timers, { stats: { local: 3, redis: 2, postgres: 1, lost: 0 } } as unknown as Wakeups);
  metrics.onModuleInit();
  afterAll(() => metrics.onModuleDestroy());

  const value = async (name: string, labels: Record<string, string>) => {
    const m = await metrics.registry.getSingleMetric(name)!.get();
    return m.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  };

  it('counts transitions and times waits and holds from the tickets', async () => {
    bus.emit('queued', ticket({ status: 'queued' }));
    bus.emit('granted', ticket({ leaseStart: new Date('2026-01-01T12:00:30Z') }));
    bus.emit('renewed', ticket({}));
    bus.emit('ended', ticket({ leaseStart: new Date('2026-01-01T12:00:30Z'), releasedAt: new Date('2026-01-01T12:10:30Z'), releaseReason: 'expired' }));
    bus.emit('ended', ticket({ status: 'released', releasedAt: new Date(), releaseReason: 'timed_out' }));
    expect(await value('queue_mutex_tickets_queued_total', { source: 'sfp' })).toBe(1);
    expect(await value('queue_mutex_grants_total', { source: 'sfp' })).toBe(1);
    expect(await value('queue_mutex_renewals_total', { source: 'sfp' })).toBe(1);
    expect(await value('queue_mutex_releases_total', { reason: 'expired' })).toBe(1);
    expect(await value('queue_mutex_releases_total', { reason: 'timed_out' })).toBe(1);
    expect(await value('queue_mutex_releases_total', { reason: 'cleared' })).toBe(0);
    const text = await metrics.registry.metrics();
    expect(text).toContain('queue_mutex_wait_seconds_sum{source="sfp"} 30');
    expect(text).toContain('queue_mutex_hold_seconds_sum{reason="expired"} 600');
    expect(text).not.toContain('queue_mutex_hold_seconds_count{reason="timed_out"}'); // never held
  });

  it('times HTTP responses by route pattern', async () => {
    hooks[0]({ method: 'GET', routeOptions: { url: '/sfp/api/locks/:repository/:resource' } }, { statusCode: 200, elapsedTime: 12 }, () => undefined);
    hooks[0]({ method: 'GET', routeOptions: {} }, { statusCode: 404, elapsedTime: 1 }, () => undefined);
    const text = await metrics.registry.metrics();
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="/sfp/api/locks/:repository/:resource",status_code="200"} 1');
    expect(text).toContain('http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1');
  });

  it('sets the lock gauges from one read at scrape time', async () => {
    const { body, contentType } = await metrics.scrape(unlimited);
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toContain('queue_mutex_lock_queue_depth{repository="acme/web",resource="uat"} 5');
    expect(body).toContain('queue_mutex_lock_holders{repository="acme/web",resource="uat"} 1');
    expect(body).toContain('queue_mutex_locks_held 2');
    expect(body).toContain('queue_mutex_tickets_waiting 5');
    expect(body).toContain('queue_mutex_locks_stuck 1');
    expect(body).toContain('queue_mutex_tickets_waiting_by_kind{kind="single"} 3');
    expect(body).toContain('queue_mutex_tickets_waiting_by_kind{kind="set"} 1');
    expect(body).toContain('queue_mutex_tickets_holding_by_kind{kind="set"} 0');
    expect(body).toContain('queue_mutex_pool_members{repository="acme/web",pool="uat-orgs",state="free"} 1');
    expect(body).toContain('queue_mutex_pool_members{repository="acme/web",pool="uat-orgs",state="held"} 2');
    expect(body).toContain('queue_mutex_pool_waiting{repository="acme/web",pool="uat-orgs"} 1');
  });

  it('reports how lock operations were batched, as running totals', async () => {
    let text = await metrics.registry.metrics();
    expect(text).toContain('queue_mutex_db_batches_total 3');
    expect(text).toContain('queue_mutex_db_batched_operations_total 17');
    expect(text).toContain('queue_mutex_db_operations_run_alone_total 2');
    expect(text).toContain('queue_mutex_db_batches_failed_total 1');
    batchStats.batches = 5;
    text = await metrics.registry.metrics();
    expect(text).toContain('queue_mutex_db_batches_total 5');
  });

  it('reports how late expiries and wait time-outs were, and which timers checked deadlines', async () => {
    const end = new Date('2026-01-01T12:01:00Z');
    bus.emit('ended', ticket({ leaseStart: new Date('2026-01-01T12:00:00Z'), leaseExpiresAt: end, releasedAt: new Date(end.getTime() + 7), releaseReason: 'expired' }));
    bus.emit('ended', ticket({ status: 'released', waitDeadline: end, releasedAt: new Date(end.getTime() + 300), releaseReason: 'timed_out' }));
    bus.emit('ended', ticket({ leaseStart: new Date('2026-01-01T12:00:00Z'), leaseExpiresAt: end, releasedAt: new Date(end.getTime() - 5_000), releaseReason: 'released' }));
    const text = (await metrics.scrape(unlimited)).body;
    expect(text).toContain('queue_mutex_expiry_lateness_seconds_bucket{le="0.01",reason="expired"} 1');
    expect(text).toContain('queue_mutex_expiry_lateness_seconds_bucket{le="0.25",reason="timed_out"} 0');
    expect(text).toContain('queue_mutex_expiry_lateness_seconds_bucket{le="0.5",reason="timed_out"} 1');
    expect(text).not.toContain('queue_mutex_expiry_lateness_seconds_count{reason="released"}');
    expect(text).toContain('queue_mutex_timer_checks_total{via="in_process"} 11');
    expect(text).toContain('queue_mutex_timer_checks_total{via="bullmq"} 2');
    expect(text).toContain('queue_mutex_timers_handed_over_total 3');
    expect(text).toContain('queue_mutex_timers_taken_over_total 5');
    expect(text).toContain('queue_mutex_timers_in_process 6');
    expect(text).toContain('queue_mutex_timers_over_cap_total 4');
    expect(text).toContain('queue_mutex_wakeups_total{via="local"} 3');
    expect(text).toContain('queue_mutex_wakeups_total{via="postgres"} 1');
    expect(text).toContain('queue_mutex_wakeups_total{via="lost"} 0');
  });

  it('reports the reconciliation sweep: runs, failures and the transitions it made', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toContain('queue_mutex_sweeps_total 7');
    expect(text).toContain('queue_mutex_sweep_failures_total 1');
    expect(text).toContain('queue_mutex_sweep_transitions_total 4');
  });
});
