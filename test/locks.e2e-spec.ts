import Redis from 'ioredis';
import { Client } from 'pg';
import { createUser, deleteRedisPrefix, http, startCluster, TestCluster } from './support/test-app';
import { LockTimers } from '../src/mutex/lock-timers.service';
import { MutexService } from '../src/mutex/mutex.service';

const REPO = 'flxbl-io/sf-core';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sfp Locks API', () => {
  let cluster: TestCluster;
  let api: ReturnType<typeof http>;
  let n = 0;
  /** A fresh resource name per test, so tests never share a lock. */
  const fresh = () => `res-${++n}-${Date.now()}`;
  const path = (resource: string, ...rest: string[]) => ['/sfp/api/locks', enc(REPO), enc(resource), ...rest].join('/');
  const queue = (resource: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
    api.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 60, ...extra }, headers);

  beforeAll(async () => {
    // Long-polls re-read only every 10 s, so a wake-up that comes sooner came from the release.
    cluster = await startCluster(1, { LONG_POLL_RECHECK_MS: '10000' });
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('grants a free lock at once, queues the rest in order with positions', async () => {
    const res = fresh();
    const a = await queue(res, { reason: 'deploying 42' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ repository: REPO, resource: res, status: 'acquired', queuePosition: 0, leaseDurationSeconds: 60, reason: 'deploying 42', releaseReason: null });
    expect(a.body.id).toBe(a.body.ticketId);
    expect(a.body.fencingToken).toBeGreaterThan(0);
    expect(new Date(a.body.leaseExpiresAt).getTime() - new Date(a.body.leaseStart).getTime()).toBe(60_000);
    expect(a.body.requestedBy).toEqual({ id: expect.any(String), name: 'owner-token' });
    expect(a.body.createdAt).toMatch(/Z$/);
    const b = await queue(res);
    const c = await queue(res);
    expect(b.body).toMatchObject({ status: 'queued', queuePosition: 1, leaseStart: null, fencingToken: null });
    expect(c.body).toMatchObject({ status: 'queued', queuePosition: 2 });
    expect((await api.get(path(res, c.body.id))).body.queuePosition).toBe(2);
  });

  it('release grants the head of the queue in the same transaction, with a greater fencing token', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res)).body;
    const rel = await api.delete(path(res, a.id));
    expect(rel.status).toBe(200);
    expect(rel.body).toMatchObject({ status: 'released', releaseReason: 'released' });
    expect(rel.body.queuePosition).toBeUndefined();
    // No acquire call: the grant already happened.
    const bNow = await api.get(path(res, b.id));
    expect(bNow.body).toMatchObject({ status: 'acquired', queuePosition: 0 });
    expect(bNow.body.fencingToken).toBeGreaterThan(a.fencingToken);
    expect(new Date(bNow.body.leaseStart).getTime()).toBeGreaterThanOrEqual(new Date(rel.body.releasedAt).getTime());
  });

  it('acquire answers at once without waitSeconds, and long-polls with it', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res)).body;
    const holder = await api.post(path(res, a.id, 'acquire'));
    expect(holder.status).toBe(200);
    expect(holder.body).toMatchObject({ acquired: true, message: expect.any(String) });
    const waiting = await api.post(path(res, b.id, 'acquire'));
    expect(waiting.body).toMatchObject({ acquired: false, ticket: { status: 'queued', queuePosition: 1 } });

    const t0 = Date.now();
    const timedOut = await api.post(path(res, b.id, 'acquire') + '?waitSeconds=1');
    expect(timedOut.body.acquired).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);

    const poll = api.post(path(res, b.id, 'acquire') + '?waitSeconds=20');
    await sleep(200);
    const releasedAt = Date.now();
    await api.delete(path(res, a.id));
    const granted = await poll;
    expect(granted.body).toMatchObject({ acquired: true, ticket: { status: 'acquired' } });
    expect(Date.now() - releasedAt).toBeLessThan(5_000);
  });

  it('a waiter leaving the queue is cancelled and positions close up', async () => {
    const res = fresh();
    await queue(res);
    const b = (await queue(res)).body;
    const c = (await queue(res)).body;
    const cancel = await api.delete(path(res, b.id));
    expect(cancel.body).toMatchObject({ status: 'released', releaseReason: 'cancelled' });
    expect((await api.get(path(res, c.id))).body.queuePosition).toBe(1);
  });

  it('releasing an ended ticket changes nothing and answers 409 with its releaseReason', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res)).body;
    await api.delete(path(res, a.id));
    const again = await api.delete(path(res, a.id));
    expect(again.status).toBe(409);
    expect(again.body.releaseReason).toBe('released');
    expect((await api.get(path(res, b.id))).body.status).toBe('acquired');
    const acq = await api.post(path(res, a.id, 'acquire'));
    expect(acq.status).toBe(409);
    expect(acq.body.releaseReason).toBe('released');
  });

  it('renews the holder lease from now; 409 for a waiter or an ended ticket', async () => {
    const res = fresh();
    const a = (await queue(res, { leaseDurationSeconds: 30 })).body;
    const b = (await queue(res)).body;
    await sleep(20);
    const renewed = await api.post(path(res, a.id, 'renew'), { leaseDurationSeconds: 120 });
    expect(renewed.status).toBe(200);
    expect(renewed.body.leaseDurationSeconds).toBe(120);
    expect(new Date(renewed.body.leaseExpiresAt).getTime()).toBeGreaterThan(new Date(a.leaseExpiresAt).getTime() + 89_000);
    expect(renewed.body.fencingToken).toBe(a.fencingToken);
    const sameLength = await api.post(path(res, a.id, 'renew'));
    expect(sameLength.status).toBe(200);
    expect(sameLength.body.leaseDurationSeconds).toBe(120);
    const waiter = await api.post(path(res, b.id, 'renew'), {});
    expect(waiter.status).toBe(409);
    expect(waiter.body.message).toMatch(/does not hold/);
    await api.delete(path(res, a.id));
    const ended = await api.post(path(res, a.id, 'renew'), {});
    expect(ended.status).toBe(409);
    expect(ended.body.releaseReason).toBe('released');
  });

  it('lists the holder first, then the queue in order, then released tickets newest first', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res)).body;
    const c = (await queue(res)).body;
    const d = (await queue(res)).body;
    await api.delete(path(res, a.id)); // b holds
    await api.delete(path(res, c.id)); // c cancelled
    const list = await api.get(path(res));
    expect(list.status).toBe(200);
    expect(list.body.map((t: any) => [t.id, t.status, t.queuePosition])).toEqual([
      [b.id, 'acquired', 0],
      [d.id, 'queued', 1],
      [c.id, 'released', undefined],
      [a.id, 'released', undefined],
    ]);
    expect((await api.get(path('never-used'))).body).toEqual([]);
  });

  it('force clear ends the holder and every waiter; the next grant has a greater token', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res)).body;
    const cleared = await api.delete(path(res));
    expect(cleared.status).toBe(200);
    expect(cleared.body.cleared).toBe(2);
    for (const t of [a, b]) {
      expect((await api.get(path(res, t.id))).body).toMatchObject({ status: 'released', releaseReason: 'cleared' });
    }
    const next = (await queue(res)).body;
    expect(next.status).toBe('acquired');
    expect(next.fencingToken).toBeGreaterThan(a.fencingToken);
    const nothing = await api.delete(path('nothing-here'));
    expect(nothing.body.cleared).toBe(0);
  });

  it('a waiter past its waitTimeoutSeconds leaves the queue as timed_out and never gets the lock', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const b = (await queue(res, { waitTimeoutSeconds: 1 })).body;
    const c = (await queue(res)).body;
    expect(b.waitTimeoutAt).toBeTruthy();
    const poll = await api.post(path(res, b.id, 'acquire') + '?waitSeconds=5');
    expect(poll.status).toBe(409);
    expect(poll.body.releaseReason).toBe('timed_out');
    await api.delete(path(res, a.id));
    expect((await api.get(path(res, c.id))).body.status).toBe('acquired');
  });

  it('Idempotency-Key: a retried POST returns the same ticket; reuse on another lock is 409', async () => {
    const res = fresh();
    const key = { 'idempotency-key': `retry-${res}` };
    const first = await queue(res, {}, key);
    const second = await queue(res, {}, key);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.get(path(res))).body).toHaveLength(1);
    const elsewhere = await queue(fresh(), {}, key);
    expect(elsewhere.status).toBe(409);
    const tooLong = await queue(res, {}, { 'idempotency-key': 'x'.repeat(201) });
    expect(tooLong.status).toBe(400);
  });

  it('Idempotency-Key: a replay with other terms (lease, reason, wait limit) is 409 naming them, not the first ticket', async () => {
    const res = fresh();
    await queue(res); // a holder, so the keyed ticket waits and keeps its wait limit
    const key = { 'idempotency-key': `terms-${res}` };
    const terms = { reason: 'first', waitTimeoutSeconds: 300 };
    const first = await queue(res, terms, key);
    expect(first.body.status).toBe('queued');
    expect((await queue(res, terms, key)).body.id).toBe(first.body.id);
    for (const [extra, field] of [
      [{ ...terms, leaseDurationSeconds: 999 }, 'leaseDurationSeconds'],
      [{ ...terms, reason: 'second' }, 'reason'],
      [{ reason: 'first' }, 'waitTimeoutSeconds'],
      [{ ...terms, waitTimeoutSeconds: 5 }, 'waitTimeoutSeconds'],
    ] as const) {
      const res2 = await queue(res, extra, key);
      expect({ field, status: res2.status, message: res2.body.message }).toEqual({
        field,
        status: 409,
        message: `Idempotency-Key was already used with a different ${field}`,
      });
    }
    expect((await api.get(path(res))).body).toHaveLength(2);
    // Queued without a wait limit: a replay that adds one is not the same request either.
    const bare = { 'idempotency-key': `terms-bare-${res}` };
    expect((await queue(res, {}, bare)).body.status).toBe('queued');
    expect(await queue(res, { waitTimeoutSeconds: 5 }, bare)).toMatchObject({ status: 409, body: { message: 'Idempotency-Key was already used with a different waitTimeoutSeconds' } });
  });

  it('keeps metadata with the ticket and shows it wherever the ticket is shown', async () => {
    const res = fresh();
    const metadata = { ciUrl: 'https://github.com/flxbl-io/sf-core/actions/runs/42', commit: '4f2a9c1', ref: 'refs/heads/main', job: 'deploy' };
    const a = await queue(res, { metadata });
    expect(a.body.metadata).toEqual(metadata);
    const b = await queue(res, { metadata: { job: 'second' } });
    const none = await queue(res);
    expect(none.body.metadata).toEqual({});
    expect((await api.get(path(res, a.body.id))).body.metadata).toEqual(metadata);
    expect((await api.get(path(res))).body.map((t: { metadata: unknown }) => t.metadata)).toEqual([metadata, { job: 'second' }, {}]);
    expect((await api.post(path(res, b.body.id, 'acquire'))).body.ticket.metadata).toEqual({ job: 'second' });
    // The owner's views: the holder, the next waiter and the audit trail.
    const overview = await api.get(`/sfp/api/admin/resources/${enc(REPO)}/${enc(res)}`);
    expect([overview.body.holder.metadata, overview.body.nextWaiter.metadata]).toEqual([metadata, { job: 'second' }]);
    const events = await api.get(`/sfp/api/admin/events?repository=${enc(REPO)}&resource=${enc(res)}`);
    expect(events.body.items.find((e: { ticketId: string; type: string }) => e.ticketId === a.body.id && e.type === 'granted').metadata).toEqual(metadata);
    expect((await api.delete(path(res, a.body.id))).body.metadata).toEqual(metadata);
  });

  it('refuses metadata that is not a small map of printable strings, naming the entry', async () => {
    const res = fresh();
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    for (const [metadata, message] of [
      [many, 'metadata must have at most 16 entries (it has 17)'],
      [{ ['k'.repeat(65)]: 'v' }, `metadata key "${'k'.repeat(40)}…" must be at most 64 characters`],
      [{ ciUrl: 'x'.repeat(513) }, 'metadata.ciUrl must be at most 512 characters'],
      [{ build: 42 }, 'metadata.build must be a string'],
      [{ job: 'a\u001b[31mb' }, 'metadata.job must be printable (no control characters)'],
      [{ 'a\nb': 'v' }, 'metadata key "a\\nb" must be printable (no control characters)'],
      [{ ' ': 'v' }, 'metadata keys must not be blank'],
      [['ciUrl', 'x'], 'metadata must be an object of string keys and values'],
      ['ciUrl=x', 'metadata must be an object of string keys and values'],
    ] as [unknown, string][]) {
      const r = await queue(res, { metadata });
      expect([r.status, r.body.message]).toEqual([400, message]);
    }
    // 16 entries at the limits are fine.
    const full = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padEnd(64, 'k'), 'v'.repeat(512)]));
    expect((await queue(res, { metadata: full })).body.metadata).toEqual(full);
  });

  it('Idempotency-Key: a replay with other metadata is 409 naming it; the same pairs in any order replay', async () => {
    const res = fresh();
    const key = { 'idempotency-key': `meta-${res}` };
    const first = await queue(res, { metadata: { commit: 'a', job: 'j' } }, key);
    const same = await queue(res, { metadata: { job: 'j', commit: 'a' } }, key);
    expect([same.status, same.body.id]).toEqual([201, first.body.id]);
    const other = await queue(res, { metadata: { commit: 'b', job: 'j' } }, key);
    expect([other.status, other.body.message]).toEqual([409, 'Idempotency-Key was already used with a different metadata']);
    expect((await queue(res, {}, key)).status).toBe(409);
  });

  it('repositories with encoded slashes and unusual characters work', async () => {
    const repo = 'org/team/repo with spaces+ünïcode';
    const r = await api.post('/sfp/api/locks', { repository: repo, resource: 'a/b', leaseDurationSeconds: 5 });
    expect(r.status).toBe(201);
    const got = await api.get(`/sfp/api/locks/${enc(repo)}/${enc('a/b')}/${r.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.repository).toBe(repo);
    expect(got.body.resource).toBe('a/b');
    // Not the same lock as repository "org", resource "team/repo…"
    const other = await api.get(`/sfp/api/locks/org/${enc('team/repo with spaces+ünïcode')}/${r.body.id}`);
    expect(other.status).toBe(404);
  });

  it('answers 404 for unknown tickets and tickets of another lock', async () => {
    const res = fresh();
    const a = (await queue(res)).body;
    const unknown = '3b0c4a57-6a3d-4d2b-9d4e-5f6a7b8c9d0e';
    expect((await api.get(path(res, unknown))).status).toBe(404);
    expect((await api.delete(path(res, unknown))).status).toBe(404);
    expect((await api.post(path(res, unknown, 'acquire'))).status).toBe(404);
    expect((await api.post(path(res, unknown, 'renew'), {})).status).toBe(404);
    expect((await api.get(path('other-resource', a.id))).status).toBe(404);
    expect((await api.get(`/sfp/api/locks/${enc('other/repo')}/${enc(res)}/${a.id}`)).status).toBe(404);
    expect((await api.delete(path('other-resource', a.id))).status).toBe(404);
    expect((await api.get(path(res, a.id))).body.status).toBe('acquired');
  });

  it('rejects bad input with 400 naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ resource: 'r', leaseDurationSeconds: 5 }, /repository/],
      [{ repository: REPO, leaseDurationSeconds: 5 }, /resource/],
      [{ repository: REPO, resource: 'r' }, /leaseDurationSeconds/],
      [{ repository: '', resource: 'r', leaseDurationSeconds: 5 }, /repository/],
      [{ repository: REPO, resource: '', leaseDurationSeconds: 5 }, /resource/],
      [{ repository: 'x'.repeat(301), resource: 'r', leaseDurationSeconds: 5 }, /repository/],
      [{ repository: REPO, resource: 'r\u0000', leaseDurationSeconds: 5 }, /resource/],
      [{ repository: 42, resource: 'r', leaseDurationSeconds: 5 }, /repository/],
      [{ repository: REPO, resource: ['r'], leaseDurationSeconds: 5 }, /resource/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 0 }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: -5 }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: '10' }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 1e300 }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 86_401 }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: null }, /leaseDurationSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, waitTimeoutSeconds: 0 }, /waitTimeoutSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, waitTimeoutSeconds: 1.5 }, /waitTimeoutSeconds/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'x'.repeat(501) }, /reason/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 7 }, /reason/],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'a\u0000b' }, /reason/],
    ];
    for (const [body, field] of cases) {
      const r = await api.post('/sfp/api/locks', body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.body.message).toMatch(field);
    }
    // One clear message per broken field: missing, wrong type, or the rule it breaks.
    const exact: Array<[unknown, string]> = [
      [{ resource: 'r', leaseDurationSeconds: 5 }, 'repository is required'],
      [{ repository: 42, resource: 'r', leaseDurationSeconds: 5 }, 'repository must be a string'],
      [{ repository: '   ', resource: 'r', leaseDurationSeconds: 5 }, 'repository must not be blank'],
      [{ repository: 'a\ud800b', resource: 'r', leaseDurationSeconds: 5 }, 'repository must be well-formed Unicode (no lone surrogates)'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: null }, 'leaseDurationSeconds must not be null'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 1e20 }, 'leaseDurationSeconds must be between 1 and 86400 seconds'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'red \u001b[31m alert' }, 'reason must not contain control characters other than tab and line breaks'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'red \u009b31m alert' }, 'reason must not contain control characters other than tab and line breaks'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'gnp.\u202eexe' }, 'reason must not contain control characters other than tab and line breaks'],
      [{ repository: REPO, resource: 'r', leaseDurationSeconds: 5, reason: 'x\ud800' }, 'reason must be well-formed Unicode (no lone surrogates)'],
      [{ repository: '', resource: 'r', leaseDurationSeconds: 5 }, 'repository must not be blank'],
      [{ repository: 'a\u0085b', resource: 'r', leaseDurationSeconds: 5 }, 'repository must not contain control characters'],
    ];
    for (const [body, message] of exact) {
      const r = await api.post('/sfp/api/locks', body);
      expect({ body, status: r.status, message: r.body.message }).toEqual({ body, status: 400, message });
    }
    expect((await api.post('/sfp/api/locks', { repository: REPO, resource: fresh(), leaseDurationSeconds: 5, reason: 'line 1\n\tline 2' })).status).toBe(201);
    for (const raw of ['{"repository":', 'not json', '[]', '"string"', 'null', '12']) {
      const r = await api.post('/sfp/api/locks', raw);
      expect({ raw, status: r.status }).toEqual({ raw, status: 400 });
    }
    const res = fresh();
    const a = (await queue(res)).body;
    expect((await api.get(path(res, 'not-a-uuid'))).status).toBe(400);
    expect((await api.get(path(res, 'not-a-uuid'))).body.message).toMatch(/ticketId/);
    for (const q of ['61', '-1', 'abc', '1.5']) {
      const r = await api.post(path(res, a.id, 'acquire') + `?waitSeconds=${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 400 });
      expect(r.body.message).toMatch(/waitSeconds/);
    }
    for (const body of [{ leaseDurationSeconds: 0 }, { leaseDurationSeconds: 'x' }, { leaseDurationSeconds: 1e12 }]) {
      const r = await api.post(path(res, a.id, 'renew'), body);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/leaseDurationSeconds/);
    }
    const longRepo = await api.get(`/sfp/api/locks/${'x'.repeat(301)}/r`);
    expect(longRepo.status).toBe(400);
    expect(longRepo.body.message).toMatch(/repository/);
  });

  it('enforces roles and repository patterns on every endpoint', async () => {
    const member = await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' });
    const scoped = await createUser(cluster.url, cluster.ownerToken, { name: 'scoped', role: 'application', repositories: ['flxbl-io/*'] });
    const res = fresh();
    const a = (await queue(res)).body;
    const m = http(cluster.url, member.apiKey);
    const calls = [
      () => m.post('/sfp/api/locks', { repository: REPO, resource: res, leaseDurationSeconds: 5 }),
      () => m.get(path(res)),
      () => m.get(path(res, a.id)),
      () => m.post(path(res, a.id, 'acquire')),
      () => m.post(path(res, a.id, 'renew'), {}),
      () => m.delete(path(res, a.id)),
      () => m.delete(path(res)),
    ];
    for (const call of calls) {
      const r = await call();
      expect(r.status).toBe(403);
      expect(r.body.message).toBe('Requires role: owner, application');
    }
    const s = http(cluster.url, scoped.apiKey);
    expect((await s.get(path(res, a.id))).status).toBe(200);
    const outside = await s.post('/sfp/api/locks', { repository: 'other-org/app', resource: 'r', leaseDurationSeconds: 5 });
    expect(outside.status).toBe(403);
    expect(outside.body.message).toMatch(/other-org\/app/);
    expect((await s.get(`/sfp/api/locks/${enc('other-org/app')}/r`)).status).toBe(403);
    expect((await s.delete(`/sfp/api/locks/${enc('other-org/app')}/r`)).status).toBe(403);
    // An application may release a ticket it did not queue.
    expect((await s.delete(path(res, a.id))).status).toBe(200);
    const anon = http(cluster.url);
    expect((await anon.post('/sfp/api/locks', { repository: REPO, resource: res, leaseDurationSeconds: 5 })).status).toBe(401);
    expect((await anon.get(path(res))).status).toBe(401);
  });

  it('records every transition in the audit table with actor and fencing token', async () => {
    const res = fresh();
    const a = (await queue(res, { reason: 'audit me' })).body;
    const b = (await queue(res)).body;
    await api.post(path(res, a.id, 'renew'), {});
    await api.delete(path(res, a.id));
    await api.delete(path(res));
    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    try {
      const { rows } = await pg.query(
        `SELECT ticket_id, type, actor_name, fencing_token, reason FROM mutex_audit_trail() WHERE resource = $1 ORDER BY id`,
        [res],
      );
      expect(rows.map((r) => [r.ticket_id, r.type])).toEqual([
        [a.id, 'queued'],
        [a.id, 'granted'],
        [b.id, 'queued'],
        [a.id, 'renewed'],
        [a.id, 'released'],
        [b.id, 'granted'],
        [b.id, 'cleared'],
      ]);
      expect(rows[1]).toMatchObject({ actor_name: 'owner-token', fencing_token: String(a.fencingToken), reason: 'audit me' });
      expect(Number(rows[5].fencing_token)).toBe(a.fencingToken + 1);
    } finally {
      await pg.end();
    }
  });
});

describe('lease expiry', () => {
  let cluster: TestCluster;
  let api: ReturnType<typeof http>;
  const path = (resource: string, ...rest: string[]) => ['/sfp/api/locks', enc(REPO), enc(resource), ...rest].join('/');

  beforeAll(async () => {
    // A slow sweep, so the timer tests prove the BullMQ jobs (not the sweep) fired on time.
    cluster = await startCluster(1, { SWEEP_INTERVAL_MS: '30000', SWEEP_DEADLINE_GRACE_MS: '60000' });
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const holdAndWait = async (resource: string) => {
    const holder = (await api.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 1 })).body;
    const waiter = (await api.post('/sfp/api/locks', { repository: REPO, resource, leaseDurationSeconds: 30 })).body;
    return { holder, waiter };
  };

  /** One sample of an instance's /metrics, e.g. metric(url, 'queue_mutex_timer_checks_total{via="bullmq"}'). */
  const metric = async (url: string, token: string, series: string) => {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  /** A ticket's row as stored: read from PostgreSQL directly, because a read through the API settles the lock itself. */
  const stored = async (databaseUrl: string, id: string, until: (row: any) => boolean) => {
    const pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    try {
      const read = async () => (await pg.query('SELECT status, release_reason, released_by, lease_start, released_at FROM tickets WHERE id = $1', [id])).rows[0];
      let row = await read();
      for (let i = 0; i < 100 && !until(row); i++) {
        await sleep(25);
        row = await read();
      }
      return row;
    } finally {
      await pg.end();
    }
  };

  /** The waiter holds the lock, granted after the holder's lease end and well before any sweep (30 s away). */
  const expectGrantedAfterLeaseEnd = async (databaseUrl: string, holder: any, waiter: any) => {
    const w = await stored(databaseUrl, waiter.id, (row) => row.status === 'acquired');
    expect(w.status).toBe('acquired');
    const lateness = new Date(w.lease_start).getTime() - new Date(holder.leaseExpiresAt).getTime();
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(1_000);
  };

  // Lateness bounds here only tell the mechanisms apart (the sweep is 30 s away); how late expiry
  // really is (goal: < 100 ms) is measured by `npm run bench`, not asserted under a loaded test run.
  it('expires a dead holder at its lease end and grants the waiter, with nobody reading the lock', async () => {
    const checksBefore = await metric(cluster.url, cluster.ownerToken, 'queue_mutex_timer_checks_total{via="in_process"}');
    const { holder, waiter } = await holdAndWait('expiry-job');
    // Nobody reads the lock and the sweep is 30 s away: only the lease timer can end the lease.
    await expectGrantedAfterLeaseEnd(cluster.databaseUrl, holder, waiter);
    const r = await api.post(path('expiry-job', waiter.id, 'acquire'));
    expect(r.body.acquired).toBe(true);
    expect(r.body.ticket.fencingToken).toBe(holder.fencingToken + 1);
    const old = await api.get(path('expiry-job', holder.id));
    expect(old.body).toMatchObject({ status: 'released', releaseReason: 'expired' });
    // The granting instance's own timer noticed it; the lateness histogram counted it.
    expect(await metric(cluster.url, cluster.ownerToken, 'queue_mutex_timer_checks_total{via="in_process"}')).toBeGreaterThan(checksBefore!);
    expect(await metric(cluster.url, cluster.ownerToken, 'queue_mutex_expiry_lateness_seconds_count{reason="expired"}')).toBeGreaterThanOrEqual(1);
  });

  it('expires a lease through its BullMQ job when no in-process timer does', async () => {
    const timers = cluster.instances[0].app.get(LockTimers);
    const mutex = cluster.instances[0].app.get(MutexService);
    timers.onDue(async () => undefined); // in-process timers fire but do nothing, as if lost
    try {
      const bullmqBefore = timers.stats.bullmqChecks;
      const { holder, waiter } = await holdAndWait('expiry-bullmq');
      await expectGrantedAfterLeaseEnd(cluster.databaseUrl, holder, waiter);
      expect(timers.stats.bullmqChecks).toBeGreaterThan(bullmqBefore);
    } finally {
      timers.onDue((id) => mutex.settleTicket(id));
    }
  });

  it('when the instance that granted a lease stops, another instance expires it on time', async () => {
    const two = await startCluster(2, { SWEEP_INTERVAL_MS: '30000', SWEEP_DEADLINE_GRACE_MS: '60000' });
    try {
      const [granting, other] = two.instances;
      const onGranting = http(granting.url, two.ownerToken);
      const holder = (await onGranting.post('/sfp/api/locks', { repository: REPO, resource: 'handed-over', leaseDurationSeconds: 2 })).body;
      const waiter = (await onGranting.post('/sfp/api/locks', { repository: REPO, resource: 'handed-over', leaseDurationSeconds: 30 })).body;
      // It hands its in-process timer over as it stops. (BullMQ alone would not do here: only the
      // stopping worker was waiting for that job's time; the other would not look for up to 10 s.)
      await two.stopInstance(granting);
      const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
      try {
        expect(await redis.exists(`${two.redisPrefix}:bull:lock-timers:lease-${holder.id}`)).toBe(1);
      } finally {
        redis.disconnect();
      }
      await expectGrantedAfterLeaseEnd(two.databaseUrl, holder, waiter);
      const old = await http(other.url, two.ownerToken).get(path('handed-over', holder.id));
      expect(old.body).toMatchObject({ status: 'released', releaseReason: 'expired' });
      expect(await metric(other.url, two.ownerToken, 'queue_mutex_timers_taken_over_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await two.close();
    }
  });

  it('ends a wait past its waitTimeoutSeconds on time, with nobody reading the lock', async () => {
    await api.post('/sfp/api/locks', { repository: REPO, resource: 'wait-job', leaseDurationSeconds: 30 });
    const waiter = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'wait-job', leaseDurationSeconds: 30, waitTimeoutSeconds: 1 })).body;
    const w = await stored(cluster.databaseUrl, waiter.id, (row) => row.status === 'released');
    expect(w).toMatchObject({ status: 'released', release_reason: 'timed_out', released_by: 'system' });
    const late = new Date(w.released_at).getTime() - new Date(waiter.waitTimeoutAt).getTime();
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(1_000);
  });

  it('still expires the lease after Redis lost its jobs: the sweep catches it, with nobody reading the lock', async () => {
    const swept = await startCluster(1, { SWEEP_INTERVAL_MS: '300' });
    const pg = new Client({ connectionString: swept.databaseUrl });
    await pg.connect();
    try {
      const a = http(swept.url, swept.ownerToken);
      // In-process timers fire but do nothing, as if the instance that armed them had crashed.
      swept.instances[0].app.get(LockTimers).onDue(async () => undefined);
      const holder = (await a.post('/sfp/api/locks', { repository: REPO, resource: 'flushed', leaseDurationSeconds: 1 })).body;
      const waiter = (await a.post('/sfp/api/locks', { repository: REPO, resource: 'flushed', leaseDurationSeconds: 30 })).body;
      // Wait until the lease job is in Redis, then lose it as a Redis flush would.
      const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
      try {
        const jobKey = `${swept.redisPrefix}:bull:lock-timers:lease-${holder.id}`;
        for (let i = 0; i < 50 && (await redis.exists(jobKey)) === 0; i++) await sleep(20);
        expect(await redis.exists(jobKey)).toBe(1);
      } finally {
        redis.disconnect();
      }
      await deleteRedisPrefix(swept.redisPrefix);
      // No request reads the lock (a read would settle it itself): only the sweep can end the lease.
      const statusOf = async (id: string) => (await pg.query('SELECT status, release_reason, released_by, lease_start FROM tickets WHERE id = $1', [id])).rows[0];
      let h = await statusOf(holder.id);
      for (let i = 0; i < 100 && h.status !== 'released'; i++) {
        await sleep(50);
        h = await statusOf(holder.id);
      }
      expect(h).toMatchObject({ status: 'released', release_reason: 'expired', released_by: 'system' });
      const w = await statusOf(waiter.id);
      expect(w.status).toBe('acquired');
      const lateness = new Date(w.lease_start).getTime() - new Date(holder.leaseExpiresAt).getTime();
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(1_500);
      // The sweep made those two transitions, and none of its runs failed.
      const metrics = await (await fetch(`${swept.url}/metrics`, { headers: { authorization: `Bearer ${swept.ownerToken}` } })).text();
      expect(Number(/^queue_mutex_sweep_transitions_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
      expect(metrics).toMatch(/^queue_mutex_sweep_failures_total 0$/m);
    } finally {
      await pg.end();
      await swept.close();
    }
  });

  it('a renewed lease does not expire at its old end', async () => {
    const { holder, waiter } = await holdAndWait('renewed');
    await api.post(path('renewed', holder.id, 'renew'), { leaseDurationSeconds: 3 });
    await sleep(1_300);
    const held = await api.get(path('renewed', holder.id));
    expect({ s: held.status, b: held.body }).toMatchObject({ b: { status: 'acquired' } });
    expect((await api.get(path('renewed', waiter.id))).body.status).toBe('queued');
    await api.delete(path('renewed', holder.id));
  });
});

describe('released-ticket retention', () => {
  it('lists a released ticket within the list window, keeps it in the audit trail longer, then the purge job deletes both', async () => {
    // List window 1 s; audit retention 3 s (0.0000347 days); the purge runs every 300 ms.
    const cluster = await startCluster(1, { RELEASED_RETENTION_SECONDS: '1', AUDIT_RETENTION_DAYS: '0.0000347', RELEASED_PURGE_INTERVAL_MS: '300' });
    try {
      const api = http(cluster.url, cluster.ownerToken);
      const path = (...rest: string[]) => ['/sfp/api/locks', enc(REPO), 'retained', ...rest].join('/');
      const events = async (ticketId: string) =>
        (await api.get(`/sfp/api/admin/events?repository=${enc(REPO)}&resource=retained`)).body.items.filter((e: any) => e.ticketId === ticketId).map((e: any) => e.type);
      const t = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'retained', leaseDurationSeconds: 30 })).body;
      await api.delete(path(t.id));
      expect((await api.get(path())).body.map((x: any) => x.id)).toEqual([t.id]);
      expect(await events(t.id)).toEqual(['released', 'granted', 'queued']);

      // Past the list window: off the list, still in the audit trail and readable by id.
      await sleep(1_300);
      expect((await api.get(path())).body).toEqual([]);
      expect(await events(t.id)).toEqual(['released', 'granted', 'queued']);
      expect((await api.get(path(t.id))).body).toMatchObject({ id: t.id, status: 'released', releaseReason: 'released' });

      // Past the audit retention: the purge deletes the ticket and its events; the lock keeps its fencing counter.
      const pg = new Client({ connectionString: cluster.databaseUrl });
      await pg.connect();
      try {
        let rows = 1;
        for (let i = 0; i < 60 && rows > 0; i++) {
          await sleep(100);
          rows = (await pg.query('SELECT count(*)::int AS n FROM tickets WHERE id = $1', [t.id])).rows[0].n;
        }
        expect(rows).toBe(0);
      } finally {
        await pg.end();
      }
      expect(await events(t.id)).toEqual([]);
      expect((await api.get(path(t.id))).status).toBe(404);
      const next = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'retained', leaseDurationSeconds: 30 })).body;
      expect(next.fencingToken).toBeGreaterThan(t.fencingToken);
    } finally {
      await cluster.close();
    }
  });
});
