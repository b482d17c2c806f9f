import fc from 'fast-check';
import { http, startCluster, TestCluster } from './support/test-app';

/**
 * Whatever a client sends, the answer is never a 5xx: random ugly values (wrong types, huge and
 * odd numbers, empty, control and NUL characters, emoji, encoded slashes, nested junk) in every
 * field, path segment and query parameter of every surface. Bad input is a 4xx with a message.
 */
const ugly = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MIN_VALUE, '', ' ', '\u0000', 'a\u0000b', '\n', '\u007f', '💥', '../..', '%2F', '%00', 'null', 'NaN', '1e999', '-0', '0x10', '__proto__', 'constructor', '[]', '{}'),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.constant('x'.repeat(5000)),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer()), { maxKeys: 3 }),
);
/** Any generated value as text (fast-check's dictionaries have no prototype, so no toString). */
const text = (v: unknown) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
const seg = ugly.map((v) => encodeURIComponent(text(v)).slice(0, 1500));

type Request = { method: 'GET' | 'POST' | 'DELETE'; path: string; body?: unknown; as?: 'anonymous' };

describe('hostile input on every surface', () => {
  let cluster: TestCluster;
  let ticketPath: string;
  let anonymousKey: string;

  beforeAll(async () => {
    cluster = await startCluster(1);
    const t = (await http(cluster.url, cluster.ownerToken).post('/sfp/api/locks', { repository: 'fuzz/r', resource: 'x', leaseDurationSeconds: 600 })).body;
    ticketPath = `/sfp/api/locks/fuzz%2Fr/x/${t.id}`;
    anonymousKey = (await http(cluster.url).post('/api/v0/users/anonymous', {})).body.apiKey;
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const requests: fc.Arbitrary<Request> = fc.oneof(
    fc.record({ repository: ugly, resource: ugly, leaseDurationSeconds: ugly, reason: ugly, waitTimeoutSeconds: ugly }).map((body) => ({ method: 'POST' as const, path: '/sfp/api/locks', body })),
    ugly.map((body) => ({ method: 'POST' as const, path: '/sfp/api/locks', body })),
    fc.tuple(seg, seg).map(([a, b]) => ({ method: 'GET' as const, path: `/sfp/api/locks/${a}/${b}` })),
    fc.tuple(seg, seg, seg).map(([a, b, c]) => ({ method: 'DELETE' as const, path: `/sfp/api/locks/${a}/${b}/${c}` })),
    seg.map((w) => ({ method: 'POST' as const, path: `${ticketPath}/acquire?waitSeconds=${w}` })),
    ugly.map((v) => ({ method: 'POST' as const, path: `${ticketPath}/renew`, body: { leaseDurationSeconds: v } })),
    fc.record({ name: ugly, role: ugly, repositories: ugly }).map((body) => ({ method: 'POST' as const, path: '/sfp/api/users', body })),
    fc.tuple(seg, seg, seg).map(([a, b, c]) => ({ method: 'GET' as const, path: `/sfp/api/admin/resources?limit=${a}&offset=${b}&contains=${c}` })),
    fc.tuple(seg, seg, seg, seg).map(([a, b, c, d]) => ({ method: 'GET' as const, path: `/sfp/api/admin/events?cursor=${a}&from=${b}&type=${c}&actor=${d}` })),
    fc.tuple(seg, seg, seg).map(([a, b, c]) => ({ method: 'GET' as const, path: `/sfp/api/admin/events?repository=${a}&resource=${b}&pool=${c}` })),
    fc.tuple(seg, seg).map(([a, b]) => ({ method: 'GET' as const, path: `/sfp/api/admin/resources/${a}/${b}` })),
    fc.tuple(seg, seg, seg, seg, seg).map(([a, b, c, d, e]) => ({ method: 'GET' as const, path: `/sfp/api/admin/pools?limit=${a}&offset=${b}&contains=${c}&active=${d}&prefix=${e}` })),
    fc.record({ userId: ugly, name: ugly, expiresAt: ugly }).map((body) => ({ method: 'POST' as const, path: '/sfp/api/admin/keys', body })),
    fc.record({ resourceId: ugly, lockOwner: ugly, expiryInSeconds: ugly }).map((body) => ({ method: 'POST' as const, path: '/v1.0-alpha1/lock/lockstore', body })),
    fc.tuple(seg, fc.record({ resourceId: ugly, lockOwner: ugly })).map(([store, body]) => ({ method: 'POST' as const, path: `/v1.0-alpha1/unlock/${store}`, body })),
    fc.record({ key: ugly, value: ugly, etag: ugly, options: ugly, metadata: ugly }).map((item) => ({ method: 'POST' as const, path: '/v1.0/state/statestore', body: [item] })),
    fc.tuple(seg, seg).map(([k, ttl]) => ({ method: 'GET' as const, path: `/v1.0/state/statestore/${k}?metadata.ttlInSeconds=${ttl}` })),
    seg.map((k) => ({ method: 'DELETE' as const, path: `/v1.0/state/statestore/${k}` })),
    fc.record({ keys: ugly, parallelism: ugly }).map((body) => ({ method: 'POST' as const, path: '/v1.0/state/statestore/bulk', body })),
    fc.record({ operation: ugly, key: ugly, value: ugly, etag: ugly }).map((o) => ({ method: 'POST' as const, path: '/v1.0/state/statestore/transaction', body: { operations: [{ operation: o.operation, request: { key: o.key, value: o.value, etag: o.etag } }] } })),
    fc.record({ field: ugly, value: ugly, sort: ugly, limit: ugly, token: ugly }).map((q) => ({ method: 'POST' as const, path: '/v1.0-alpha1/state/statestore/query', body: { filter: { EQ: { [text(q.field).slice(0, 50)]: q.value } }, sort: q.sort, page: { limit: q.limit, token: q.token } } })),
    fc.record({ lockName: ugly, requester: ugly }).map((body) => ({ method: 'POST' as const, path: '/api/v0/lock', body, as: 'anonymous' as const })),
    seg.map((n) => ({ method: 'GET' as const, path: `/api/v0/lock?lockName=${n}`, as: 'anonymous' as const })),
    fc.record({ lockName: ugly, leaseId: ugly }).map((body) => ({ method: 'POST' as const, path: '/api/v0/unlock', body, as: 'anonymous' as const })),
  );

  it('answers random ugly requests with a 2xx or a 4xx carrying a message, never a 5xx', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(requests, async (r) => {
        const client = http(cluster.url, r.as === 'anonymous' ? anonymousKey : cluster.ownerToken);
        const res = r.method === 'GET' ? await client.get(r.path) : r.method === 'DELETE' ? await client.delete(r.path) : await client.post(r.path, r.body);
        seen.add(res.status);
        expect({ request: r, status: res.status < 500 }).toEqual({ request: r, status: true });
        if (res.status >= 400) expect(typeof (res.body?.message ?? res.body?.errorCode)).toBe('string');
      }),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 2_000) },
    );
    // The generator really reaches both sides: accepted requests and refused ones.
    expect([...seen].some((s) => s < 300)).toBe(true);
    expect([...seen].some((s) => s >= 400)).toBe(true);
  }, 120_000);
});
