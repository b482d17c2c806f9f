import { ForbiddenException, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Principal } from '../auth/principal';
import { Ticket } from '../mutex/domain/ticket';
import { MutexEventBus } from '../mutex/mutex-event-bus';
import { BatchStats } from '../database/call-batcher';
import { LockSweeper } from '../mutex/lock-sweeper.service';
import { LockTimers } from '../mutex/lock-timers.service';
import { LockStore } from '../mutex/lock-store';
import { Wakeups } from '../mutex/wakeups.service';
import { LockGaugeQueries, TICKET_KINDS } from './lock-gauge.queries';

const RELEASE_REASONS = ['released', 'expired', 'cleared', 'cancelled', 'timed_out'];
const SOURCES = ['sfp', 'dapr', 'synchronize'];
const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1_000);

/**
 * Prometheus metrics of one app instance, in its own Registry (several instances may share a
 * process). Counters and histograms count what this instance committed (sum them across
 * instances); the lock gauges are read from PostgreSQL at scrape time and are the same on every
 * instance (take max, not sum).
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();

  private readonly queued = new Counter({ name: 'queue_mutex_tickets_queued_total', help: 'Tickets queued (including immediate grants and successful try-locks)', labelNames: ['source'], registers: [this.registry] });
  private readonly grants = new Counter({ name: 'queue_mutex_grants_total', help: 'Leases granted', labelNames: ['source'], registers: [this.registry] });
  private readonly renewals = new Counter({ name: 'queue_mutex_renewals_total', help: 'Leases renewed', labelNames: ['source'], registers: [this.registry] });
  private readonly releases = new Counter({
    name: 'queue_mutex_releases_total',
    help: 'Tickets ended, by releaseReason: released, expired (lease ran out), cleared (force clear), cancelled (left the queue), timed_out (waited too long)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly waitTime = new Histogram({
    name: 'queue_mutex_wait_seconds',
    help: 'Time from queueing to grant',
    labelNames: ['source'],
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  });
  private readonly holdTime = new Histogram({
    name: 'queue_mutex_hold_seconds',
    help: 'Time from grant to the end of the lease, by releaseReason',
    labelNames: ['reason'],
    buckets: [0.1, 1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({ name: 'queue_mutex_lock_queue_depth', help: 'Tickets waiting per lock (the busiest locks only)', labelNames: ['repository', 'resource'], registers: [this.registry] });
  private readonly holders = new Gauge({ name: 'queue_mutex_lock_holders', help: 'Holders per lock, 0 or 1 (the busiest locks only)', labelNames: ['repository', 'resource'], registers: [this.registry] });
  private readonly held = new Gauge({ name: 'queue_mutex_locks_held', help: 'Locks with a holder', registers: [this.registry] });
  private readonly waiting = new Gauge({ name: 'queue_mutex_tickets_waiting', help: 'Tickets waiting in all queues (a set\'s ticket once, though it is in the queue of each of its locks)', registers: [this.registry] });
  private readonly waitingByKind = new Gauge({
    name: 'queue_mutex_tickets_waiting_by_kind',
    help: 'Tickets waiting, by kind: single (one resource by name), set (several by name), pool (members of a pool)',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly holdingByKind = new Gauge({
    name: 'queue_mutex_tickets_holding_by_kind',
    help: 'Tickets holding their locks, by kind: single, set, pool',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly poolMembers = new Gauge({
    name: 'queue_mutex_pool_members',
    help: 'Members per pool, free or held (the busiest 1,000 pools only)',
    labelNames: ['repository', 'pool', 'state'],
    registers: [this.registry],
  });
  private readonly poolWaiting = new Gauge({ name: 'queue_mutex_pool_waiting', help: 'Tickets waiting for members per pool (the busiest 1,000 pools only)', labelNames: ['repository', 'pool'], registers: [this.registry] });
  private readonly stuck = new Gauge({ name: 'queue_mutex_locks_stuck', help: 'Held locks that look stuck (see GET /sfp/api/admin/stuck)', registers: [this.registry] });
  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  // Read from the repository at scrape time: lock operations grouped into one database call each.
  private readonly batches = new Counter({ name: 'queue_mutex_db_batches_total', help: 'Database calls that carried several lock operations in one transaction', registers: [this.registry], collect: this.fromBatchStats((s) => s.batches) });
  private readonly batchedOperations = new Counter({ name: 'queue_mutex_db_batched_operations_total', help: 'Lock operations sent in batches (divide by queue_mutex_db_batches_total for the mean batch size)', registers: [this.registry], collect: this.fromBatchStats((s) => s.operations) });
  private readonly ranAlone = new Counter({ name: 'queue_mutex_db_operations_run_alone_total', help: 'Batched lock operations handed back because their lock was busy, then run on their own', registers: [this.registry], collect: this.fromBatchStats((s) => s.ranAlone) });
  private readonly failedBatches = new Counter({ name: 'queue_mutex_db_batches_failed_total', help: 'Batches that failed as a whole (a lock wait timed out, an error); their operations then ran on their own', registers: [this.registry], collect: this.fromBatchStats((s) => s.failed) });

  // The reconciliation sweep's own health: a sweep that keeps failing leaves lost Redis jobs unsettled.
  private readonly sweeps = new Counter({ name: 'queue_mutex_sweeps_total', help: 'Reconciliation sweeps run by this instance', registers: [this.registry], collect: this.fromSweeper((s) => s.runs) });
  private readonly sweepFailures = new Counter({ name: 'queue_mutex_sweep_failures_total', help: 'Reconciliation sweeps that failed (alert on any increase)', registers: [this.registry], collect: this.fromSweeper((s) => s.failures) });
  private readonly sweepTransitions = new Counter({ name: 'queue_mutex_sweep_transitions_total', help: 'Expiries, wait time-outs and grants made by the sweep (a lost or late timer job)', registers: [this.registry], collect: this.fromSweeper((s) => s.transitions) });

  // Lease ends and wait limits: how late the lock was actually freed, and which timer noticed.
  private readonly lateness = new Histogram({
    name: 'queue_mutex_expiry_lateness_seconds',
    help: 'From a lease end (reason expired) or a wait limit (reason timed_out) to the commit that ended the ticket',
    labelNames: ['reason'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly timerChecks = new Counter({
    name: 'queue_mutex_timer_checks_total',
    help: 'Deadline checks run by this instance, via its in-process timers or BullMQ jobs (the durable copy; the second of two checks finds nothing to do)',
    labelNames: ['via'],
    registers: [this.registry],
    collect: this.runningTotalsBy('via', () => ({ in_process: this.timers?.stats.inProcessChecks ?? 0, bullmq: this.timers?.stats.bullmqChecks ?? 0 })),
  });
  private readonly wakeupsSent = new Counter({
    name: 'queue_mutex_wakeups_total',
    help: 'Wake-ups of long-polls sent by this instance: to a waiter here, through Redis, through PostgreSQL NOTIFY (Redis unreachable), or lost',
    labelNames: ['via'],
    registers: [this.registry],
    collect: this.runningTotalsBy('via', () => this.wakeups?.stats ?? { local: 0, redis: 0, postgres: 0, lost: 0 }),
  });
  private readonly handedOver = new Counter({ name: 'queue_mutex_timers_handed_over_total', help: 'Deadlines this instance handed to the others as it stopped', registers: [this.registry], collect: this.fromTimers((s) => s.handedOver) });
  private readonly takenOver = new Counter({ name: 'queue_mutex_timers_taken_over_total', help: 'Deadlines this instance took over from a stopping one', registers: [this.registry], collect: this.fromTimers((s) => s.takenOver) });
  private readonly overCap = new Counter({ name: 'queue_mutex_timers_over_cap_total', help: 'Deadlines left to BullMQ alone because this instance already timed 50,000 in memory', registers: [this.registry], collect: this.fromTimers((s) => s.overCap) });
  private readonly armedTimers = new Gauge({ name: 'queue_mutex_timers_in_process', help: 'Lease ends and wait limits this instance is timing in memory', registers: [this.registry] });

  private readonly listeners = {
    queued: (t: Ticket) => this.queued.inc({ source: t.source }),
    granted: (t: Ticket) => {
      this.grants.inc({ source: t.source });
      if (t.leaseStart) this.waitTime.observe({ source: t.source }, seconds(t.createdAt, t.leaseStart));
    },
    renewed: (t: Ticket) => this.renewals.inc({ source: t.source }),
    ended: (t: Ticket) => {
      const reason = t.releaseReason ?? 'released';
      this.releases.inc({ reason });
      if (t.leaseStart && t.releasedAt) this.holdTime.observe({ reason }, seconds(t.leaseStart, t.releasedAt));
      const deadline = reason === 'expired' ? t.leaseExpiresAt : reason === 'timed_out' ? t.waitDeadline : null;
      if (deadline && t.releasedAt) this.lateness.observe({ reason }, seconds(deadline, t.releasedAt));
    },
  };

  constructor(
    private readonly events: MutexEventBus,
    private readonly gauges: LockGaugeQueries,
    private readonly adapterHost: HttpAdapterHost,
    private readonly locks: LockStore,
    private readonly sweeper: LockSweeper,
    private readonly timers: LockTimers,
    private readonly wakeups: Wakeups,
  ) {
    collectDefaultMetrics({ register: this.registry });
    // Every series exists from the start, so rate() and alerts see a zero instead of nothing.
    for (const source of SOURCES) {
      this.queued.inc({ source }, 0);
      this.grants.inc({ source }, 0);
      this.renewals.inc({ source }, 0);
    }
    for (const reason of RELEASE_REASONS) this.releases.inc({ reason }, 0);
    for (const reason of ['expired', 'timed_out']) this.lateness.zero({ reason });
  }

  onModuleInit(): void {
    this.events.on('queued', this.listeners.queued);
    this.events.on('granted', this.listeners.granted);
    this.events.on('renewed', this.listeners.renewed);
    this.events.on('ended', this.listeners.ended);
    // A Fastify hook, not a Nest interceptor, so 401s, 404s and validation errors are timed too.
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // One labelled child per method, route and status, looked up without building its labels.
    const children = new Map<string, Map<string | undefined, Map<number, Histogram.Internal<string>>>>();
    fastify.addHook('onResponse', (request, reply, done) => {
      // The route pattern, never the raw URL: ids in paths would explode the label set.
      const route = request.routeOptions?.url;
      const status = reply.statusCode;
      let byRoute = children.get(request.method);
      if (!byRoute) children.set(request.method, (byRoute = new Map()));
      let byStatus = byRoute.get(route);
      if (!byStatus) byRoute.set(route, (byStatus = new Map()));
      let child = byStatus.get(status);
      if (!child) byStatus.set(status, (child = this.httpDuration.labels({ method: request.method, route: route ?? 'unmatched', status_code: String(status) })));
      child.observe(reply.elapsedTime / 1_000);
      done();
    });
  }

  onModuleDestroy(): void {
    this.events.off('queued', this.listeners.queued);
    this.events.off('granted', this.listeners.granted);
    this.events.off('renewed', this.listeners.renewed);
    this.events.off('ended', this.listeners.ended);
  }

  /** A counter's collect(): its value is the repository's running total. */
  private fromBatchStats(pick: (s: BatchStats) => number) {
    return this.runningTotal(() => {
      const stats = this.locks?.batchStats();
      return stats ? pick(stats) : 0;
    });
  }

  /** A counter's collect(): its value is the sweeper's running total. */
  private fromSweeper(pick: (s: LockSweeper['stats']) => number) {
    return this.runningTotal(() => (this.sweeper ? pick(this.sweeper.stats) : 0));
  }

  private runningTotal(read: () => number) {
    return function (this: Counter) {
      this.reset();
      this.inc(read());
    };
  }

  /** A counter's collect(): its value is the lock timers' running total. */
  private fromTimers(pick: (s: LockTimers['stats']) => number) {
    return this.runningTotal(() => (this.timers ? pick(this.timers.stats) : 0));
  }

  /** A labelled counter's collect(): one running total per value of `label`. */
  private runningTotalsBy(label: string, read: () => Record<string, number>) {
    return function (this: Counter<string>) {
      this.reset();
      for (const [value, total] of Object.entries(read())) this.inc({ [label]: value }, total);
    };
  }

  /** The exposition text, with the lock gauges read fresh from PostgreSQL. */
  async scrape(by: Principal): Promise<{ contentType: string; body: string }> {
    // Per-lock series name every repository: a key limited to some (a synchronize anonymous user's,
    // which anyone may create) must not read the others' through them.
    if (by.repositories !== null) {
      throw new ForbiddenException('Metrics show every repository: scrape with a key that is not limited to repositories');
    }
    const g = await this.gauges.read();
    this.queueDepth.reset();
    this.holders.reset();
    for (const lock of g.locks) {
      const labels = { repository: lock.repository, resource: lock.resource };
      this.queueDepth.set(labels, lock.queueDepth);
      this.holders.set(labels, lock.holders);
    }
    this.poolMembers.reset();
    this.poolWaiting.reset();
    for (const pool of g.pools) {
      const labels = { repository: pool.repository, pool: pool.pool };
      this.poolMembers.set({ ...labels, state: 'free' }, pool.free);
      this.poolMembers.set({ ...labels, state: 'held' }, pool.held);
      this.poolWaiting.set(labels, pool.waiting);
    }
    for (const kind of TICKET_KINDS) {
      this.waitingByKind.set({ kind }, g.waitingByKind[kind]);
      this.holdingByKind.set({ kind }, g.holdingByKind[kind]);
    }
    this.held.set(g.held);
    this.waiting.set(g.waiting);
    this.stuck.set(g.stuck);
    this.armedTimers.set(this.timers?.armed ?? 0);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
