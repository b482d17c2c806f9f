import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { migrateUnderLock } from '../src/database/database-bootstrap';
import { dataSourceOptions } from '../src/database/data-source-options';
import { PgPool } from '../src/database/pg-pool';
import { LockChange, Ticket } from '../src/mutex/domain/ticket';
import { InMemoryLockStore } from '../src/mutex/in-memory-lock-store';
import { Actor, LockStore } from '../src/mutex/lock-store';
import { PostgresLockStore } from '../src/mutex/postgres-lock-store';
import { createDatabase, dropDatabase } from './support/test-app';

/**
 * The lock-store contract: one set of scenarios, run against the in-memory model
 * (src/mutex/domain/lock-store.machine.ts) and against PostgreSQL (src/mutex/sql), with the clock
 * driven by the test (every call passes its `now`), so lease ends and wait limits are tested on
 * PostgreSQL exactly as on the model. Then random histories run on both at once must get the
 * same answers, tickets and audit trail.
 *
 * Every harness (a scenario, a random history) gets its own repository and its own stretch of
 * time, each earlier than the last, so a sweep never reaches another harness's deadlines.
 */

const S = 1000;
const actor: Actor = { id: '00000000-0000-4000-8000-00000000a11c', name: 'contract' };
const requester = { requesterId: '00000000-0000-4000-8000-0000000000b0', requesterName: 'pipeline' };
let harnesses = 0;
const BASE = Date.UTC(2200, 0, 1);

interface Subject {
  store: LockStore;
  /** The audit trail of one repository, oldest first. */
  audit(repository: string): Promise<AuditRow[]>;
  /** The audit trail of one repository as the admin endpoint pages it: newest first, through every page. */
  /** `walkBudget` (PostgreSQL): tickets the page may walk before it scans instead (0: scan at once). */
  auditPages(repository: string, filter: AuditFilter, pageSize: number, walkBudget?: number): Promise<AuditRow[]>;
  close(): Promise<void>;
}

/** The audit endpoint's filters (besides the repository): an event names the resource, or is of the pool, or of one of the types. */
interface AuditFilter {
  resource?: string;
  pool?: string;
  types?: string[];
  actorName?: string;
}

const auditMatches = (f: AuditFilter) => (a: AuditRow) =>
  (f.resource === undefined || a.resource === f.resource || (a.resources ?? []).includes(f.resource)) &&
  (f.pool === undefined || a.pool === f.pool) &&
  (f.types === undefined || f.types.includes(a.type)) &&
  (f.actorName === undefined || a.actorName === f.actorName);

interface AuditRow {
  type: string;
  resource: string;
  resources: string[] | null;
  pool: string | null;
  ticketId: string;
  actorName: string | null;
  fencingToken: number | null;
  reason: string | null;
  at: number;
}

function inMemory(): Subject {
  const store = new InMemoryLockStore(() => {
    throw new Error('the contract passes every now');
  });
  return {
    store,
    audit: async (repository) =>
      store.audit
        .filter((a) => a.repository === repository)
        .map((a) => ({
          type: a.type,
          resource: a.resource,
          resources: a.resources ? [...a.resources] : null,
          pool: a.pool,
          ticketId: a.ticketId,
          actorName: a.actorName,
          fencingToken: a.fencingToken,
          reason: a.reason,
          at: a.at,
        })),
    auditPages: async function (repository, filter) {
      return (await this.audit(repository)).filter(auditMatches(filter)).reverse();
    },
    close: async () => undefined,
  };
}

const auditRowOf = (r: Record<string, any>): AuditRow => ({
        type: r.type,
        resource: r.resource,
        resources: r.resources,
        pool: r.pool,
        ticketId: r.ticket_id,
        actorName: r.actor_name,
        fencingToken: r.fencing_token === null ? null : Number(r.fencing_token),
        reason: r.reason,
        at: new Date(r.at).getTime(),
});

async function postgres(): Promise<Subject> {
  const name = `qm_test_contract_${process.pid}_${randomUUID().slice(0, 8)}`;
  await createDatabase(name);
  const url = (process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres').replace(/\/[^/]*$/, `/${name}`);
  const source = new DataSource(dataSourceOptions(url, 4));
  await source.initialize();
  await migrateUnderLock(source);
  const pool = new PgPool(source);
  return {
    store: new PostgresLockStore(pool),
    audit: async (repository) =>
      (
        await pool.query<Record<string, any>>(
          'contract_audit',
          `SELECT type, resource, resources, pool, ticket_id, actor_name, fencing_token, reason, at FROM mutex_audit_trail() WHERE repository = $1 ORDER BY id`,
          [repository],
        )
      ).map(auditRowOf),
    auditPages: async (repository, filter, pageSize, walkBudget = 400) => {
      const rows: AuditRow[] = [];
      let before: string | null = null;
      for (;;) {
        const page: Record<string, any>[] = await pool.query<Record<string, any>>(
          'contract_audit_page',
          'SELECT * FROM mutex_audit_page($1::jsonb, $2::bigint, $3, $4)',
          [JSON.stringify({ repository, ...filter }), before, pageSize, walkBudget],
        );
        rows.push(...page.map(auditRowOf));
        if (page.length < pageSize) return rows;
        before = String(page[page.length - 1].id);
      }
    },
    close: async () => {
      await source.destroy();
      await dropDatabase(name);
    },
  };
}

interface QueueOptions {
  t?: number;
  lease?: number;
  wait?: number | null;
  owner?: string | null;
  try?: boolean;
  resource?: string;
  key?: string | null;
  reason?: string | null;
  metadata?: Record<string, string> | null;
  /** A set instead of one resource. */
  resources?: string[];
  pool?: { name: string; count: number };
}

/** One repository on one store, tickets named by labels, times in ms from the harness's start. */
function harness(subject: Subject) {
  const { store } = subject;
  const repository = `contract/${++harnesses}`;
  const t0 = BASE - harnesses * 1e9;
  const at = (t: number) => new Date(t0 + t);
  const ids = new Map<string, string>();
  const labels = new Map<string, string>();
  const id = (label: string) => {
    if (!ids.has(label)) {
      const uuid = randomUUID();
      ids.set(label, uuid);
      labels.set(uuid, label);
    }
    return ids.get(label)!;
  };
  const label = (t: { id: string }) => labels.get(t.id) ?? t.id;
  const names = (tickets: Ticket[]) => tickets.map(label);
  const h = {
    repository,
    at,
    id,
    label,
    queue: (l: string, o: QueueOptions = {}) =>
      store.queue(
        {
          repository,
          resources: o.resources ?? [o.resource ?? 'env'],
          pool: o.pool ?? null,
          ticketId: id(l),
          ...requester,
          owner: o.owner ?? null,
          source: o.try ? 'dapr' : 'sfp',
          reason: o.reason ?? null,
          metadata: o.metadata ?? null,
          leaseSeconds: o.lease ?? 60,
          waitSeconds: o.wait ?? null,
          idempotencyKey: o.key ?? null,
          tryOnly: o.try ?? false,
        },
        at(o.t ?? 0),
      ),
    status: (l: string, t: number, resource = 'env') => store.settleTicket(id(l), repository, resource, at(t)),
    release: (l: string, t: number, resource = 'env') => store.release(id(l), repository, resource, actor, at(t)),
    renew: (l: string, t: number, lease: number | null = null, resource = 'env') => store.renew(id(l), repository, resource, lease, actor, at(t)),
    clear: (t: number, resource = 'env') => store.clearLock(repository, resource, actor, at(t)),
    unlock: (owner: string, t: number, resource = 'env') => store.releaseOwner(repository, resource, owner, actor, at(t)),
    list: (t: number, retentionSeconds = 3600, resource = 'env') => store.list(repository, resource, retentionSeconds, 100, at(t)),
    sweep: (t: number) => store.sweep(1000, at(t)),
    /** Deletes what was released `retentionSeconds` before t (in every repository); forgets keys as old. */
    purge: (t: number, retentionSeconds: number) => store.purgeReleased(retentionSeconds, retentionSeconds, at(t)),
    /** A ticket for `count` members of the pool `name` (default 'uat'). */
    queuePool: (l: string, count: number, o: QueueOptions & { name?: string } = {}) => h.queue(l, { ...o, resources: [], pool: { name: o.name ?? 'uat', count } }),
    putPool: (members: string[], t: number, name = 'uat') => store.putPool(repository, name, members, null, actor, at(t)),
    deletePool: (t: number, name = 'uat') => store.deletePool(repository, name, actor, at(t)),
    /** Who holds each resource, as labels. */
    holders: async (...resources: string[]) => {
      const locks = await store.locksIn(repository, 100);
      return resources.map((r) => {
        const holder = locks.find((l) => l.resource === r)?.holder;
        return holder ? label(holder) : null;
      });
    },
    /** What changed besides the answer, as labels. */
    changes: (c: LockChange) => ({ granted: names(c.granted), ended: c.ended.map((t) => `${label(t)}:${t.releaseReason}`) }),
    /** The audit trail as type:label. */
    audit: async () => (await subject.audit(repository)).map((a) => `${a.type}:${labels.get(a.ticketId) ?? a.ticketId}`),
    auditRows: () => subject.audit(repository),
    auditPages: (filter: AuditFilter, pageSize: number, walkBudget?: number) => subject.auditPages(repository, filter, pageSize, walkBudget),
    /** The live queue as [label, status, position]. */
    queueOf: async (t: number) => (await h.list(t)).filter((x) => x.status !== 'released').map((x) => [label(x), x.status, x.queuePosition]),
  };
  return h;
}

type Harness = ReturnType<typeof harness>;
const SUBJECTS: [string, () => Subject | Promise<Subject>][] = [
  ['the in-memory model', inMemory],
  ['PostgreSQL', postgres],
];

describe.each(SUBJECTS)('lock store contract on %s', (_name, make) => {
  let subject: Subject;
  let h: Harness;

  beforeAll(async () => {
    subject = await make();
  });
  afterAll(async () => {
    await subject?.close();
  });
  beforeEach(() => {
    h = harness(subject);
  });

  describe('a free lock', () => {
    it('is granted at once, with fencing token 1 and a lease from now', async () => {
      const r = await h.queue('A', { t: 5, lease: 30 });
      expect(r.outcome).toBe('ok');
      expect(r.ticket).toMatchObject({ status: 'acquired', queuePosition: 0, fencingToken: 1, leaseStart: h.at(5), leaseExpiresAt: h.at(5 + 30 * S), waitDeadline: null });
      expect(h.changes(r)).toEqual({ granted: [], ended: [] });
      expect(await h.audit()).toEqual(['queued:A', 'granted:A']);
      const [queued, granted] = await h.auditRows();
      expect([queued.fencingToken, granted.fencingToken, granted.at]).toEqual([null, 1, h.at(5).getTime()]);
    });

    it('keeps the ticket’s reason and metadata as given (no metadata reads as empty)', async () => {
      const meta = { ciUrl: 'https://ci.example/run/1', commit: 'abc' };
      expect((await h.queue('A', { reason: 'deploy 42', metadata: meta })).ticket).toMatchObject({ reason: 'deploy 42', metadata: meta });
      expect((await h.queue('B', { t: 1 })).ticket?.metadata).toEqual({});
      expect((await h.list(2)).map((t) => t.metadata)).toEqual([meta, {}]);
    });

    it('keeps no wait limit for a ticket granted at once', async () => {
      expect((await h.queue('A', { wait: 1 })).ticket?.waitDeadline).toBeNull();
      expect((await h.status('A', 10 * S)).ticket?.status).toBe('acquired');
    });

    it('is granted to a try-lock, which records queued then granted', async () => {
      const r = await h.queue('A', { try: true, owner: 'o1', lease: 10 });
      expect(r.ticket).toMatchObject({ status: 'acquired', owner: 'o1', fencingToken: 1, source: 'dapr' });
      expect(await h.audit()).toEqual(['queued:A', 'granted:A']);
    });

    it('answers not_found for an unknown ticket, and nothing to clear or unlock', async () => {
      expect((await h.status('X', 0)).outcome).toBe('not_found');
      expect((await h.release('X', 0)).outcome).toBe('not_found');
      expect((await h.renew('X', 0)).outcome).toBe('not_found');
      expect(h.changes(await h.clear(0))).toEqual({ granted: [], ended: [] });
      expect((await h.unlock('o', 0)).status).toBe(1);
    });

    it('keeps counting its fence after a release', async () => {
      await h.queue('A');
      await h.release('A', 1);
      expect((await h.queue('B', { t: 2 })).ticket?.fencingToken).toBe(2);
    });
  });

  describe('a held lock', () => {
    it('queues behind the holder at positions 1, 2, …', async () => {
      await h.queue('A');
      expect((await h.queue('B', { t: 1 })).ticket).toMatchObject({ status: 'queued', queuePosition: 1, fencingToken: null, leaseStart: null });
      expect((await h.queue('C', { t: 2 })).ticket?.queuePosition).toBe(2);
      expect(await h.queueOf(3)).toEqual([
        ['A', 'acquired', 0],
        ['B', 'queued', 1],
        ['C', 'queued', 2],
      ]);
    });

    it('refuses a try-lock, which leaves no ticket behind', async () => {
      await h.queue('A', { try: true, owner: 'o1' });
      expect((await h.queue('B', { t: 1, try: true, owner: 'o2' })).outcome).toBe('busy');
      expect((await h.status('B', 2)).outcome).toBe('not_found');
      expect(await h.audit()).toEqual(['queued:A', 'granted:A']);
    });

    it('refuses a try-lock while anyone waits, even right after the holder released', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      await h.release('A', 2);
      expect((await h.queue('C', { t: 3, try: true, owner: 'o' })).outcome).toBe('busy');
    });

    it('goes to the head of the queue when the holder releases: fence + 1, a lease from the release', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1, lease: 20 });
      await h.queue('C', { t: 2 });
      const r = await h.release('A', 5 * S);
      expect(r.ticket).toMatchObject({ status: 'released', releaseReason: 'released', releasedAt: h.at(5 * S), releasedBy: 'contract' });
      expect(h.changes(r)).toEqual({ granted: ['B'], ended: [] });
      expect(r.granted[0]).toMatchObject({ fencingToken: 2, leaseStart: h.at(5 * S), leaseExpiresAt: h.at(25 * S), queuePosition: 0 });
      expect(await h.queueOf(5 * S)).toEqual([
        ['B', 'acquired', 0],
        ['C', 'queued', 1],
      ]);
      expect(await h.audit()).toEqual(['queued:A', 'granted:A', 'queued:B', 'queued:C', 'released:A', 'granted:B']);
    });

    it('lets a waiter leave the queue (cancelled); those behind it move up', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2 });
      await h.queue('D', { t: 3 });
      const r = await h.release('C', 4);
      expect([r.outcome, r.ticket?.releaseReason, r.ticket?.queuePosition]).toEqual(['ok', 'cancelled', null]);
      expect(await h.queueOf(5)).toEqual([
        ['A', 'acquired', 0],
        ['B', 'queued', 1],
        ['D', 'queued', 2],
      ]);
      expect((await h.status('D', 6)).ticket?.queuePosition).toBe(2);
    });

    it('renews its lease from now, keeping its length unless a new one is given', async () => {
      await h.queue('A', { lease: 30 });
      const same = await h.renew('A', 10 * S);
      expect(same.ticket).toMatchObject({ leaseDurationSeconds: 30, leaseExpiresAt: h.at(40 * S), renewedAt: h.at(10 * S) });
      const longer = await h.renew('A', 20 * S, 90);
      expect(longer.ticket).toMatchObject({ leaseDurationSeconds: 90, leaseExpiresAt: h.at(110 * S) });
      // The old lease end passes without an expiry.
      expect((await h.status('A', 41 * S)).ticket?.status).toBe('acquired');
      expect(await h.audit()).toEqual(['queued:A', 'granted:A', 'renewed:A', 'renewed:A']);
    });

    it('is renewed only by its holder: a waiter is not_holder and nothing changes', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      const r = await h.renew('B', 2);
      expect([r.outcome, r.ticket?.status, r.ticket?.queuePosition]).toEqual(['not_holder', 'queued', 1]);
    });

    it('is unlocked by its Dapr owner only: 2 for another owner, 0 for its own, which grants the head', async () => {
      await h.queue('A', { try: true, owner: 'o1' });
      await h.queue('B', { t: 1, owner: 'o2' });
      expect((await h.unlock('o2', 2)).status).toBe(2);
      const r = await h.unlock('o1', 3);
      expect([r.status, ...h.changes(r).ended, ...h.changes(r).granted]).toEqual([0, 'A:released', 'B']);
    });

    it('is not unlocked by owner for an sfp ticket, which has none', async () => {
      await h.queue('A');
      expect((await h.unlock('o1', 1)).status).toBe(2);
    });
  });

  describe('time', () => {
    it('ends a lease exactly at leaseExpiresAt, not a millisecond before, and grants the head from then', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1, lease: 20 });
      const before = await h.status('B', 10 * S - 1);
      expect([before.ticket?.status, h.changes(before)]).toEqual(['queued', { granted: [], ended: [] }]);
      const after = await h.status('B', 10 * S + 7);
      expect(h.changes(after)).toEqual({ granted: ['B'], ended: ['A:expired'] });
      expect(after.ticket).toMatchObject({ status: 'acquired', fencingToken: 2, leaseStart: h.at(10 * S + 7), leaseExpiresAt: h.at(30 * S + 7) });
      expect(after.ended[0]).toMatchObject({ releasedAt: h.at(10 * S + 7), releasedBy: 'system' });
      expect(await h.audit()).toEqual(['queued:A', 'granted:A', 'queued:B', 'expired:A', 'granted:B']);
      expect((await h.auditRows()).map((a) => a.reason)).toEqual([null, null, null, 'lease ended', null]);
    });

    it('settles before every operation: a queue after a lease ended waits behind the new holder', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1 });
      const r = await h.queue('C', { t: 11 * S });
      expect(h.changes(r)).toEqual({ granted: ['B'], ended: ['A:expired'] });
      expect(r.ticket?.queuePosition).toBe(1);
    });

    it('answers ended to a holder whose lease ran out, without touching the new holder', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1 });
      const r = await h.release('A', 12 * S);
      expect([r.outcome, r.ticket?.releaseReason, ...h.changes(r).granted]).toEqual(['ended', 'expired', 'B']);
      expect((await h.status('B', 13 * S)).ticket?.status).toBe('acquired');
      const renew = await h.renew('A', 14 * S);
      expect([renew.outcome, renew.ticket?.releaseReason]).toEqual(['not_holder', 'expired']);
    });

    it('gives a try-lock a lock whose holder expired with nobody waiting', async () => {
      await h.queue('A', { lease: 10 });
      const r = await h.queue('B', { t: 10 * S, try: true, owner: 'o' });
      expect([r.outcome, h.changes(r).ended]).toEqual(['ok', ['A:expired']]);
      expect(await h.audit()).toEqual(['queued:A', 'granted:A', 'expired:A', 'queued:B', 'granted:B']);
    });

    it('answers 1 to an unlock of an expired holder with nobody waiting', async () => {
      await h.queue('A', { lease: 10, try: true, owner: 'o1' });
      const r = await h.unlock('o1', 10 * S);
      expect([r.status, ...h.changes(r).ended]).toEqual([1, 'A:expired']);
    });

    it('lets waiters go at their wait limit, from the middle of the queue, keeping the order of the others', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2, wait: 5 });
      await h.queue('D', { t: 3 });
      await h.queue('E', { t: 4, wait: 5 });
      expect(h.changes(await h.status('B', 5 * S + 1))).toEqual({ granted: [], ended: [] });
      const r = await h.status('D', 5 * S + 4);
      expect(h.changes(r)).toEqual({ granted: [], ended: ['C:timed_out', 'E:timed_out'] });
      expect(r.ticket?.queuePosition).toBe(2);
      expect(await h.queueOf(6 * S)).toEqual([
        ['A', 'acquired', 0],
        ['B', 'queued', 1],
        ['D', 'queued', 2],
      ]);
      const last = (await h.auditRows()).slice(-2);
      expect(last.map((a) => [a.type, a.actorName, a.reason])).toEqual([
        ['timed_out', 'system', 'waited longer than its wait limit'],
        ['timed_out', 'system', 'waited longer than its wait limit'],
      ]);
    });

    it('settles timeouts, then the expiry, then the grant', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1, wait: 8 });
      await h.queue('C', { t: 2 });
      const r = await h.status('C', 10 * S);
      expect(h.changes(r)).toEqual({ granted: ['C'], ended: ['B:timed_out', 'A:expired'] });
      expect(r.ticket?.fencingToken).toBe(2);
    });

    it('times out a waiter whose limit ends with the holder’s lease rather than granting it', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 0, wait: 10 });
      expect(h.changes(await h.release('A', 10 * S))).toEqual({ granted: [], ended: ['B:timed_out', 'A:expired'] });
    });

    it('lets a waiter granted before its wait limit keep the lock past it', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1, wait: 20 });
      await h.status('B', 10 * S);
      expect((await h.status('B', 30 * S)).ticket?.status).toBe('acquired');
    });

    it('reports the earliest lease end or wait limit', async () => {
      await h.queue('A', { lease: 30 });
      await h.queue('B', { t: 1, wait: 10 });
      expect(await subject.store.nextDeadlineIn(h.at(2))).toBe(10 * S - 1);
      await h.release('B', 3);
      expect(await subject.store.nextDeadlineIn(h.at(4))).toBe(30 * S - 4);
    });

    it('sweeps what is overdue on locks nobody touches', async () => {
      await h.queue('A', { lease: 10 });
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2, wait: 5, resource: 'other' }).then(() => h.queue('D', { t: 3, resource: 'other' }));
      await h.queue('E', { t: 4, wait: 5, resource: 'other' });
      expect(h.changes(await subject.store.sweep(100, h.at(4 * S)))).toEqual({ granted: [], ended: [] });
      const r = await subject.store.sweep(100, h.at(11 * S));
      const mine = (ts: Ticket[]) => ts.filter((t) => t.repository === h.repository);
      expect(mine(r.granted).map(h.label)).toEqual(['B']);
      expect(
        mine(r.ended)
          .map((t) => `${h.label(t)}:${t.releaseReason}`)
          .sort(),
      ).toEqual(['A:expired', 'E:timed_out']);
    });
  });

  describe('ended tickets', () => {
    const endings: [string, (h: Harness) => Promise<unknown>][] = [
      ['released', (h) => h.queue('A').then(() => h.release('A', 1))],
      ['cancelled', (h) => h.queue('H').then(() => h.queue('A', { t: 1 })).then(() => h.release('A', 2))],
      ['cleared', (h) => h.queue('A').then(() => h.clear(1))],
      ['expired', (h) => h.queue('A', { lease: 1 }).then(() => h.status('A', 1 * S))],
      ['timed_out', (h) => h.queue('H').then(() => h.queue('A', { t: 1, wait: 1 })).then(() => h.status('A', 2 * S))],
    ];
    it.each(endings)('answer ended to a release of a %s ticket, not_holder to a renew, and change nothing', async (reason, end) => {
      await end(h);
      const trail = await h.audit();
      const r = await h.release('A', 3 * S);
      expect([r.outcome, r.ticket?.status, r.ticket?.releaseReason, r.ticket?.queuePosition]).toEqual(['ended', 'released', reason, null]);
      expect((await h.renew('A', 3 * S)).outcome).toBe('not_holder');
      expect(await h.audit()).toEqual(trail);
    });

    it('are found only under their own lock', async () => {
      await h.queue('A');
      for (const answer of [await h.status('A', 1, 'elsewhere'), await h.release('A', 1, 'elsewhere')]) expect(answer.outcome).toBe('not_found');
      expect((await h.status('A', 1)).ticket?.status).toBe('acquired');
    });
  });

  describe('force clear', () => {
    it('ends the holder and every waiter with cleared, in queue order, and keeps the fence', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2 });
      expect(h.changes(await h.clear(3))).toEqual({ granted: [], ended: ['A:cleared', 'B:cleared', 'C:cleared'] });
      expect(await h.queueOf(4)).toEqual([]);
      expect((await h.queue('D', { t: 5 })).ticket?.fencingToken).toBe(2);
      expect((await h.auditRows()).filter((a) => a.type === 'cleared').map((a) => [a.actorName, a.reason, a.fencingToken])).toEqual([
        ['contract', 'force clear', 1],
        ['contract', 'force clear', null],
        ['contract', 'force clear', null],
      ]);
    });

    it('records a lease that had already run out as expired (and the grant it caused), not as cleared', async () => {
      await h.queue('A', { lease: 1 });
      await h.queue('B', { t: 1 });
      expect(h.changes(await h.clear(1200))).toEqual({ granted: ['B'], ended: ['A:expired', 'B:cleared'] });
    });
  });

  describe('idempotency keys', () => {
    it('find the ticket of the first request, and refuse another lock', async () => {
      const first = await h.queue('A', { key: 'k1' });
      const again = await h.queue('A2', { t: 5, key: 'k1' });
      expect([again.outcome, again.ticket?.id]).toEqual(['replayed', first.ticket?.id]);
      expect((await h.queue('A3', { t: 6, key: 'k1', resource: 'elsewhere' })).outcome).toBe('idempotency_mismatch');
      expect(await h.audit()).toEqual(['queued:A', 'granted:A']);
    });
  });

  describe('sets of resources', () => {
    it('are granted all at once, with a fencing token per resource, and audited as one ticket', async () => {
      const r = await h.queue('S', { resources: ['a', 'b'], lease: 30 });
      expect(r.ticket).toMatchObject({ status: 'acquired', resource: 'a', resources: ['a', 'b'], fencingToken: 1, fencingTokens: { a: 1, b: 1 }, lockCount: 2, pool: null });
      expect(await h.holders('a', 'b')).toEqual(['S', 'S']);
      expect((await h.auditRows()).map((a) => [a.type, a.resource, a.resources])).toEqual([
        ['queued', 'a', ['a', 'b']],
        ['granted', 'a', ['a', 'b']],
      ]);
    });

    it('wait for all their resources, keeping a free one idle for them rather than serving a later ticket', async () => {
      await h.queue('A', { resources: ['a'] });
      const s = await h.queue('S', { t: 1, resources: ['a', 'b'] });
      expect([s.ticket?.status, s.ticket?.queuePosition]).toEqual(['queued', 1]);
      // b is free, but S queued for it first: B waits behind S (strict FIFO on b).
      const b = await h.queue('B', { t: 2, resources: ['b'] });
      expect([b.ticket?.status, b.ticket?.queuePosition]).toEqual(['queued', 2]);
      expect(await h.holders('a', 'b')).toEqual(['A', null]);
      // A try-lock never jumps a waiting set either.
      expect((await h.queue('T', { t: 3, resources: ['b'], try: true, owner: 'o' })).outcome).toBe('busy');
      const r = await h.release('A', 4, 'a');
      expect(h.changes(r)).toEqual({ granted: ['S'], ended: [] });
      expect(r.granted[0].fencingTokens).toEqual({ a: 2, b: 1 });
      expect(await h.holders('a', 'b')).toEqual(['S', 'S']);
      // When S leaves, B gets b.
      expect(h.changes(await h.release('S', 5, 'b'))).toEqual({ granted: ['B'], ended: [] });
    });

    it('asked in opposite orders at once never deadlock: the later one waits for the earlier', async () => {
      const ab = await h.queue('AB', { resources: ['a', 'b'] });
      const ba = await h.queue('BA', { t: 1, resources: ['b', 'a'] });
      expect([ab.ticket?.status, ba.ticket?.status]).toEqual(['acquired', 'queued']);
      const r = await h.release('AB', 2, 'b');
      expect(h.changes(r)).toEqual({ granted: ['BA'], ended: [] });
      expect(r.granted[0]).toMatchObject({ resource: 'b', resources: ['b', 'a'], fencingTokens: { a: 2, b: 2 } });
    });

    it('are found, renewed and released under the path of any of their resources, and not under others', async () => {
      await h.queue('S', { resources: ['a', 'b'], lease: 10 });
      expect((await h.status('S', 1, 'b')).ticket?.resources).toEqual(['a', 'b']);
      expect((await h.status('S', 1, 'c')).outcome).toBe('not_found');
      const renewed = await h.renew('S', 5 * S, 20, 'b');
      expect(renewed.ticket?.leaseExpiresAt).toEqual(h.at(25 * S));
      // The one lease covers both: neither lock expires at the old end.
      expect(await h.holders('a', 'b')).toEqual(['S', 'S']);
      expect((await h.release('S', 6 * S, 'b')).ticket?.releaseReason).toBe('released');
      expect(await h.holders('a', 'b')).toEqual([null, null]);
    });

    it('expire as one: the lease end frees every resource, and each goes to its next waiter', async () => {
      await h.queue('S', { resources: ['a', 'b'], lease: 10 });
      await h.queue('A', { t: 1, resources: ['a'] });
      await h.queue('B', { t: 2, resources: ['b'] });
      const r = await h.status('A', 10 * S, 'a');
      expect(h.changes(r)).toEqual({ granted: ['A', 'B'], ended: ['S:expired'] });
      expect(await h.holders('a', 'b')).toEqual(['A', 'B']);
    });

    it('leave every queue at their wait limit, and what they kept idle goes to the next', async () => {
      await h.queue('A', { resources: ['a'] });
      await h.queue('S', { t: 1, resources: ['a', 'b'], wait: 5 });
      await h.queue('B', { t: 2, resources: ['b'] });
      const r = await h.status('B', 5 * S + 1, 'b');
      expect(h.changes(r)).toEqual({ granted: ['B'], ended: ['S:timed_out'] });
    });

    it('are cleared whole by a force clear of any of their resources', async () => {
      await h.queue('S', { resources: ['a', 'b'] });
      await h.queue('W', { t: 1, resources: ['b', 'c'] });
      await h.queue('C', { t: 2, resources: ['c'] });
      expect(h.changes(await h.clear(3, 'b'))).toEqual({ granted: ['C'], ended: ['S:cleared', 'W:cleared'] });
      expect(await h.holders('a', 'b', 'c')).toEqual([null, null, 'C']);
    });

    it('appear in the list of each of their resources', async () => {
      await h.queue('A', { resources: ['b'] });
      await h.queue('S', { t: 1, resources: ['a', 'b'] });
      expect((await h.list(2, 3600, 'a')).map(h.label)).toEqual(['S']);
      expect((await h.list(2, 3600, 'b')).map((t) => [h.label(t), t.queuePosition])).toEqual([
        ['A', 0],
        ['S', 1],
      ]);
      const [a, b] = (await subject.store.locksIn(h.repository, 10)).map((l) => l.queueLength);
      expect([a, b]).toEqual([1, 1]);
    });
  });

  describe('pools', () => {
    it('grant count free members at once, the one free the longest first', async () => {
      await h.queue('X', { resources: ['m2'] }); // m2 exists and was just used
      await h.release('X', 1, 'm2');
      expect((await h.putPool(['m1', 'm2', 'm3'], 2)).outcome).toBe('ok');
      const p = await h.queuePool('P', 2, { t: 3 });
      // m1 and m3 were never held: free since they were created; m2 since t=1.
      expect(p.ticket).toMatchObject({ status: 'acquired', pool: 'uat', resources: ['m2', 'm1'], lockCount: 2 });
      expect(p.ticket?.fencingTokens).toEqual({ m1: 1, m2: 2 });
      expect(await h.holders('m1', 'm2', 'm3')).toEqual(['P', 'P', null]);
      const view = await subject.store.pool(h.repository, 'uat');
      expect(view?.members.map((m) => [m.resource, m.holder ? h.label(m.holder) : null])).toEqual([
        ['m1', 'P'],
        ['m2', 'P'],
        ['m3', null],
      ]);
    });

    it('queue a pool ticket in the global order: a member that frees goes to the earliest waiter that can use it', async () => {
      await h.putPool(['m1', 'm2'], 0);
      await h.queue('A', { t: 1, resources: ['m1'] });
      await h.queue('B', { t: 2, resources: ['m2'] });
      const p = await h.queuePool('P', 1, { t: 3 });
      expect([p.ticket?.status, p.ticket?.resource, p.ticket?.resources, p.ticket?.queuePosition]).toEqual(['queued', 'uat', [], 1]);
      // A later named ticket for a member waits behind the pool ticket that could use it.
      const n = await h.queue('N', { t: 4, resources: ['m2'] });
      expect(n.ticket?.queuePosition).toBe(2);
      expect((await subject.store.pool(h.repository, 'uat'))?.queue.map(h.label)).toEqual(['P']);
      // Found under the pool's name while it waits.
      expect((await h.status('P', 5, 'uat')).ticket?.status).toBe('queued');
      const r = await h.release('B', 6, 'm2');
      expect(h.changes(r)).toEqual({ granted: ['P'], ended: [] });
      expect(r.granted[0]).toMatchObject({ resource: 'm2', resources: ['m2'], fencingTokens: { m2: 2 } });
      // Once granted, found under the member it holds too.
      expect((await h.status('P', 7, 'm2')).ticket?.status).toBe('acquired');
      expect((await h.release('P', 8, 'uat')).ticket?.releaseReason).toBe('released');
      expect(await h.holders('m2')).toEqual(['N']);
    });

    it('answer no_such_pool, count_too_large, and keep pool and resource names apart', async () => {
      expect((await h.queuePool('P', 1)).outcome).toBe('no_such_pool');
      await h.putPool(['m1'], 1);
      expect(await h.queuePool('P', 2, { t: 2 })).toMatchObject({ outcome: 'count_too_large', size: 1 });
      expect(await h.queue('Q', { t: 3, resources: ['uat'] })).toMatchObject({ outcome: 'pool_name', name: 'uat' });
      await h.queue('R', { t: 4, resources: ['other'] });
      expect((await h.putPool(['m1'], 5, 'other')).outcome).toBe('name_is_resource');
      expect(await h.putPool(['uat'], 6, 'second')).toMatchObject({ outcome: 'member_is_pool', name: 'uat' });
    });

    it('when deleted, cancel their waiting tickets and leave held members held', async () => {
      await h.putPool(['m1'], 0);
      await h.queuePool('P', 1, { t: 1 });
      await h.queuePool('Q', 1, { t: 2 });
      const r = await subject.store.deletePool(h.repository, 'uat', actor, h.at(3));
      expect([r.outcome, h.changes(r)]).toEqual(['ok', { granted: [], ended: ['Q:cancelled'] }]);
      expect(await subject.store.pool(h.repository, 'uat')).toBeNull();
      expect((await h.status('P', 4, 'm1')).ticket?.status).toBe('acquired');
      // Both are still found under the deleted pool's name.
      expect((await h.status('Q', 4, 'uat')).ticket).toMatchObject({ status: 'released', releaseReason: 'cancelled' });
      expect((await h.status('P', 4, 'uat')).ticket?.status).toBe('acquired');
      expect((await h.release('P', 5, 'uat')).outcome).toBe('ok');
      expect((await h.status('P', 6, 'm1')).ticket?.status).toBe('released');
    });

    it('when shrunk, cancel the tickets that ask for more members than they have', async () => {
      await h.putPool(['m1', 'm2'], 0);
      await h.queue('A', { t: 1, resources: ['m1'] });
      await h.queuePool('P', 2, { t: 2 });
      await h.queuePool('Q', 1, { t: 3 });
      const r = await h.putPool(['m3'], 4);
      expect(h.changes(r)).toEqual({ granted: ['Q'], ended: ['P:cancelled'] });
      expect(await h.holders('m1', 'm2', 'm3')).toEqual(['A', null, 'Q']);
    });

    it('are cleared whole by a force clear of the pool', async () => {
      await h.putPool(['m1', 'm2'], 0);
      await h.queuePool('P', 2, { t: 1 });
      await h.queuePool('Q', 1, { t: 2 });
      expect(h.changes(await h.clear(3, 'uat'))).toEqual({ granted: [], ended: ['P:cleared', 'Q:cleared'] });
      expect(await h.holders('m1', 'm2')).toEqual([null, null]);
      expect((await h.list(4, 3600, 'uat')).map((t) => [h.label(t), t.releaseReason])).toEqual([
        ['Q', 'cleared'],
        ['P', 'cleared'],
      ]);
    });
  });

  describe('reads', () => {
    it('list the holder, then the queue, then tickets released within the retention, newest first', async () => {
      await h.queue('A');
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2 });
      await h.queue('D', { t: 3 });
      await h.release('A', 10 * S); // B holds
      await h.release('C', 20 * S); // cancelled
      const list = await h.list(30 * S);
      expect(list.map((t) => [h.label(t), t.status, t.queuePosition ?? null])).toEqual([
        ['B', 'acquired', 0],
        ['D', 'queued', 1],
        ['C', 'released', null],
        ['A', 'released', null],
      ]);
      // Past the retention of A's release only.
      expect((await h.list(30 * S, 15)).map(h.label)).toEqual(['B', 'D', 'C']);
    });

    it('summarise the locks of a repository', async () => {
      await h.queue('A', { resource: 'b' });
      await h.queue('B', { t: 1, resource: 'b' });
      await h.queue('C', { t: 2, resource: 'a' });
      await h.release('C', 3, 'a');
      const locks = await subject.store.locksIn(h.repository, 10);
      expect(locks.map((l) => [l.resource, l.fence, l.queueLength, l.holder ? h.label(l.holder) : null, l.updatedAt.getTime()])).toEqual([
        ['a', 1, 0, null, h.at(3).getTime()],
        ['b', 1, 1, 'A', h.at(1).getTime()],
      ]);
    });

    it('purge released tickets past the retention, but keep a waiter that left until the queue passes it', async () => {
      await h.queue('A', { lease: 3600 });
      await h.queue('B', { t: 1 });
      await h.queue('C', { t: 2 });
      await h.release('B', 3); // left while waiting, C still behind it
      await h.queue('X', { t: 4, resource: 'other' });
      await h.release('X', 5, 'other');
      const purged = await subject.store.purgeReleased(10, 10, h.at(60 * S));
      expect(purged).toBeGreaterThanOrEqual(1);
      expect((await h.status('X', 60 * S, 'other')).outcome).toBe('not_found');
      expect((await h.status('B', 60 * S)).ticket?.releaseReason).toBe('cancelled');
      expect((await h.status('C', 60 * S)).ticket?.queuePosition).toBe(1);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Random histories on both stores at once.

type Op =
  | { kind: 'queue'; lease: number; wait: number | null; owner: string | null; try: boolean; resources: string[] }
  | { kind: 'queuePool'; lease: number; wait: number | null; count: number }
  | { kind: 'release' | 'status'; pick: number }
  | { kind: 'renew'; pick: number; lease: number | null }
  | { kind: 'clear' | 'unlock'; resource: string; owner: string }
  | { kind: 'sweep'; resource: string }
  | { kind: 'list'; resource: string; retention: number }
  | { kind: 'purge'; retention: number }
  | { kind: 'putPool'; members: string[] }
  | { kind: 'deletePool' };

const resources = fc.constantFrom('r1', 'r2', 'r3');
const owners = fc.constantFrom('o1', 'o2');
const lease = fc.constantFrom(1, 2, 60, 60);
const wait = fc.option(fc.constantFrom(1, 3), { freq: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('queue' as const),
      lease,
      wait,
      owner: fc.option(owners),
      try: fc.constantFrom(false, false, false, true),
      resources: fc.oneof({ weight: 3, arbitrary: resources.map((r) => [r]) }, { weight: 1, arbitrary: fc.uniqueArray(resources, { minLength: 2, maxLength: 3 }) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('queuePool' as const), lease, wait, count: fc.constantFrom(1, 2) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('release' as const, 'status' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renew' as const), pick: fc.nat(), lease: fc.option(fc.constantFrom(1, 60)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('clear' as const, 'unlock' as const), resource: fc.constantFrom('r1', 'r2', 'r3', 'pool'), owner: owners }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), resource: fc.constantFrom('r1', 'r2', 'r3', 'pool') }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('list' as const), resource: fc.constantFrom('r1', 'r2', 'r3', 'pool'), retention: fc.constantFrom(2, 3600) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), retention: fc.constantFrom(1, 5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('putPool' as const), members: fc.uniqueArray(fc.constantFrom('r2', 'r3', 'm1'), { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'deletePool' as const }) },
);
const AUDIT_FILTERS: AuditFilter[] = [
  {},
  { resource: 'r1' },
  { resource: 'r2' },
  { resource: 'r3' },
  { resource: 'pool' },
  { pool: 'pool' },
  { types: ['granted', 'released', 'expired'] },
  { resource: 'r3', types: ['queued', 'renewed', 'cancelled', 'timed_out'] },
  // By actor: the one who releases, renews and clears; the sweep; the requester (queued, granted).
  { actorName: 'contract' },
  { actorName: 'system', types: ['expired', 'timed_out'] },
  { resource: 'r2', actorName: 'pipeline' },
];
const queueOp = (resources: string[], more: Partial<Extract<Op, { kind: 'queue' }>> = {}): Op => ({ kind: 'queue', lease: 60, wait: null, owner: null, try: false, resources, ...more });
const EVERY_ANSWER: [number, Op][] = [
  [0, queueOp(['r1'], { owner: 'o1' })], // T0 holds r1
  [0, { kind: 'unlock', owner: 'o2', resource: 'r1' }], // 2: not its owner
  [0, queueOp(['r1'], { owner: 'o1', try: true })], // T1: busy
  [0, { kind: 'status', pick: 0 }],
  [0, { kind: 'renew', pick: 0, lease: null }],
  [0, { kind: 'unlock', owner: 'o1', resource: 'r1' }], // 0: T0 released
  [0, { kind: 'renew', pick: 0, lease: null }], // not_holder
  [0, queueOp(['r2'])], // T2 holds r2
  [0, { kind: 'release', pick: 2 }],
  [0, { kind: 'release', pick: 2 }], // ended
  [0, { kind: 'putPool', members: ['r3'] }],
  [0, { kind: 'queuePool', lease: 60, wait: null, count: 1 }],
  [0, { kind: 'deletePool' }],
  [0, { kind: 'queuePool', lease: 60, wait: null, count: 1 }], // no_such_pool
  [3000, { kind: 'purge', retention: 1 }], // T0 and T2
];
/** Pauses that land before, on and after lease ends and wait limits; mostly short, so queues build up. */
const pause = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 250) },
  { weight: 3, arbitrary: fc.constantFrom(999, 1000, 1500, 2000, 3000) },
  { weight: 1, arbitrary: fc.constant(61_000) },
);

describe('lock store contract: random histories', () => {
  let model: Subject;
  let pg: Subject;

  beforeAll(async () => {
    model = inMemory();
    pg = await postgres();
  });
  afterAll(async () => {
    await pg?.close();
  });

  it('get the same answers, tickets and audit trail from the model and from PostgreSQL', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(pause, opArb), { minLength: 1, maxLength: 60, size: 'max' }), async (history) => {
        // One harness per store, on the same clock and the same labels.
        const m = harness(model);
        const p = harness(pg);
        const sameStart = p.at(0).getTime() - m.at(0).getTime();
        const sent: string[] = [];
        let t = 0;
        let n = 0;
        const purges = history.some(([, op]) => op.kind === 'purge');
        for (const [dt, op] of history) {
          t += dt;
          const run = async (h: Harness) => {
            const pick = (i: number) => (sent.length === 0 ? 'nobody' : sent[i % sent.length]);
            /** The first path the ticket is found under (a not_found changes nothing). */
            const underAnyPath = async <A extends { outcome: string }>(call: (path: string) => Promise<A>): Promise<A> => {
              let answer!: A;
              for (const path of ['r1', 'r2', 'r3', 'pool']) {
                answer = await call(path);
                if (answer.outcome !== 'not_found') break;
              }
              return answer;
            };
            switch (op.kind) {
              case 'queue':
                return view(h, await h.queue(`T${n}`, { t, lease: op.lease, wait: op.wait, owner: op.try ? (op.owner ?? 'o1') : op.owner, try: op.try, resources: op.resources }));
              case 'queuePool':
                return view(h, await h.queuePool(`T${n}`, op.count, { t, lease: op.lease, wait: op.wait, name: 'pool' }));
              case 'release':
                return view(h, await underAnyPath((path) => h.release(pick(op.pick), t, path)));
              case 'status':
                return view(h, await underAnyPath((path) => h.status(pick(op.pick), t, path)));
              case 'renew':
                return view(h, await underAnyPath((path) => h.renew(pick(op.pick), t, op.lease, path)));
              case 'putPool': {
                const r = await h.putPool(op.members, t, 'pool');
                return { ...view(h, r), created: r.created, name: r.name };
              }
              case 'deletePool':
                return view(h, await h.deletePool(t, 'pool'));
              case 'clear':
                return view(h, await h.clear(t, op.resource));
              case 'unlock':
                return view(h, await h.unlock(op.owner, t, op.resource));
              case 'sweep':
                return view(h, await h.sweep(t));
              case 'list':
                // The service never lists further back than it keeps tickets (a waiter that left
                // is kept longer, off its lock's chain): after a purge, lists look no further back.
                return (await h.list(t, purges ? Math.min(op.retention, 1) : op.retention, op.resource)).map((x) => ticketView(h, x));
              case 'purge':
                return { purged: await h.purge(t, op.retention) };
            }
          };
          const [a, b] = await Promise.all([run(m), run(p)]);
          expect(b).toEqual(a);
          if (op.kind === 'queue' || op.kind === 'queuePool') {
            sent.push(`T${n}`);
            n++;
          }
          if (op.kind === 'purge') seen.add((a as { purged: number }).purged > 0 ? 'purge:some' : 'purge:none');
          else seen.add(`${op.kind}:${(a as { outcome?: unknown })?.outcome ?? (a as { status?: unknown })?.status ?? ''}`);
        }
        const [ma, pa] = await Promise.all([m.auditRows(), p.auditRows()]);
        const label = (h: Harness, rows: AuditRow[], shift: number) => rows.map((r) => ({ ...r, ticketId: h.label({ id: r.ticketId }), at: r.at - shift }));
        expect(label(p, pa, sameStart)).toEqual(label(m, ma, 0));
        // The admin endpoint's pages, small ones so the walks meet their cursors and limits.
        for (const filter of AUDIT_FILTERS) {
          // Walking the chains, and scanning the tickets (what a page does past its walk budget).
          const [mp, pp, ps] = await Promise.all([m.auditPages(filter, 3), p.auditPages(filter, 3), p.auditPages(filter, 3, 0)]);
          expect([filter, label(p, pp, sameStart)]).toEqual([filter, label(m, mp, 0)]);
          expect(['scan', filter, label(p, ps, sameStart)]).toEqual(['scan', filter, label(m, mp, 0)]);
        }
      }),
      // One history that surely reaches every answer checked below, whatever the seed.
      { numRuns: 100, examples: [[EVERY_ANSWER]] },
    );
    // The histories really reach the interesting answers.
    for (const expected of [
      'queue:ok',
      'queue:busy',
      'queuePool:ok',
      'queuePool:no_such_pool',
      'putPool:ok',
      'deletePool:ok',
      'release:ok',
      'release:ended',
      'status:ok',
      'renew:ok',
      'renew:not_holder',
      'unlock:0',
      'unlock:2',
      'purge:some',
    ]) {
      expect(seen).toContain(expected);
    }
  }, 300_000); // ~10-60 s alone; a loaded machine (a full suite on two cores) has needed more than 180
});

describe('lock store contract: bursts through the batcher', () => {
  let model: Subject;
  let pg: Subject;

  beforeAll(async () => {
    model = inMemory();
    pg = await postgres();
  });
  afterAll(async () => {
    await pg?.close();
  });

  it('operations sent at once, which share one batch and one transaction, get the answers the model gives them one by one', async () => {
    type BurstOp = { kind: 'queue' | 'try'; resource: string } | { kind: 'release' | 'status'; pick: number };
    const burstOp: fc.Arbitrary<BurstOp> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('queue' as const, 'try' as const), resource: resources }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('release' as const, 'status' as const), pick: fc.nat() }) },
    );
    const { stats } = (pg.store as PostgresLockStore).batcher;
    const before = { ...stats };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(burstOp, { minLength: 2, maxLength: 8 }), { minLength: 1, maxLength: 6 }), async (bursts) => {
        const m = harness(model);
        const p = harness(pg);
        const sent: { label: string; resource: string }[] = [];
        let n = 0;
        for (const [i, burst] of bursts.entries()) {
          const t = i * 10;
          const calls = burst.map((op) => {
            if (op.kind === 'release' || op.kind === 'status') {
              const target = sent.length > 0 ? sent[op.pick % sent.length] : { label: 'nobody', resource: 'r1' };
              return (h: Harness) => (op.kind === 'release' ? h.release(target.label, t, target.resource) : h.status(target.label, t, target.resource));
            }
            const label = `B${n++}`;
            const { resource } = op as { resource: string };
            const tryOnly = op.kind === 'try';
            sent.push({ label, resource });
            return (h: Harness) => h.queue(label, { t, resource, try: tryOnly, owner: tryOnly ? 'o1' : null });
          });
          // PostgreSQL gets the burst at once; the model one call after the other.
          const fromPg = await Promise.all(calls.map((call) => call(p)));
          const fromModel: Awaited<ReturnType<(typeof calls)[number]>>[] = [];
          for (const call of calls) fromModel.push(await call(m));
          expect(fromPg.map((a) => view(p, a))).toEqual(fromModel.map((a) => view(m, a)));
        }
      }),
      { numRuns: 25 },
    );
    // The bursts really went out as batches of several operations.
    const batches = stats.batches - before.batches;
    expect(batches).toBeGreaterThan(0);
    expect((stats.operations - before.operations) / batches).toBeGreaterThanOrEqual(3);
  }, 120_000);
});

/** A ticket compared across stores: ids as labels, times from the harness's start, store-specific numbers dropped. */
function ticketView(h: Harness, t: Ticket) {
  const rel = (d: Date | null) => (d === null ? null : d.getTime() - h.at(0).getTime());
  return {
    label: h.label(t),
    resource: t.resource,
    resources: t.resources,
    fencingTokens: t.fencingTokens,
    pool: t.pool,
    lockCount: t.lockCount,
    status: t.status,
    queuePosition: t.queuePosition,
    owner: t.owner,
    leaseDurationSeconds: t.leaseDurationSeconds,
    fencingToken: t.fencingToken,
    waitDeadline: rel(t.waitDeadline),
    leaseStart: rel(t.leaseStart),
    leaseExpiresAt: rel(t.leaseExpiresAt),
    renewedAt: rel(t.renewedAt),
    releaseReason: t.releaseReason,
    releasedAt: rel(t.releasedAt),
    releasedBy: t.releasedBy,
    createdAt: rel(t.createdAt),
    updatedAt: rel(t.updatedAt),
  };
}

function view(h: Harness, answer: LockChange & { outcome?: string; status?: number; ticket?: Ticket; name?: string; size?: number }) {
  const mine = (ts: Ticket[]) => ts.filter((t) => t.repository === h.repository).map((t) => ticketView(h, t));
  const byLabel = (a: { label: string }, b: { label: string }) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
  return {
    outcome: answer.outcome,
    status: answer.status,
    name: answer.name,
    size: answer.size,
    ticket: answer.ticket ? ticketView(h, answer.ticket) : undefined,
    granted: mine(answer.granted).sort(byLabel),
    ended: mine(answer.ended).sort(byLabel),
  };
}
