import { DaprClient, StateConcurrencyEnum, StateConsistencyEnum } from '@dapr/dapr';
import { createUser, http, startCluster, TestCluster } from './support/test-app';
import { daprClient } from './support/dapr-client';

/*
 * Dapr state API end to end: the official SDK over HTTP for every operation, raw HTTP for status
 * codes and headers. Scenarios follow Dapr's state conformance suite (components-contrib
 * tests/conformance/state): value types, etags, first-write, bulk, transactions.
 */

const STORE = 'statestore';
const OTHER = 'otherstore';

/** The SDK answers failed saves/deletes with `{error}` whose message is a JSON envelope. */
function sdkFailure(result: { error?: Error }): { status: number; body: { errorCode: string; message: string } } {
  expect(result.error).toBeDefined();
  const envelope = JSON.parse(result.error!.message);
  return { status: envelope.status, body: JSON.parse(envelope.error_msg) };
}

async function sdkThrown(p: Promise<unknown>): Promise<{ status: number; body: { errorCode: string; message: string } }> {
  try {
    await p;
  } catch (err) {
    const envelope = JSON.parse((err as Error).message);
    return { status: envelope.status, body: JSON.parse(envelope.error_msg) };
  }
  throw new Error('expected the SDK call to fail');
}

describe('Dapr state API', () => {
  let cluster: TestCluster;
  let client: DaprClient;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    cluster = await startCluster(1, { DAPR_STATE_STORES: `${STORE},${OTHER}` });
    client = daprClient(cluster.url, cluster.ownerToken);
    api = http(cluster.url, cluster.ownerToken);
  });

  afterAll(async () => {
    await client?.stop();
    await cluster?.close();
  });

  const etagOf = async (key: string, store = STORE): Promise<string> => {
    const [item] = (await client.state.getBulk(store, [key])) as unknown as { etag: string }[];
    return item.etag;
  };

  describe('values (SDK)', () => {
    const values: [string, unknown][] = [
      ['string', 'hello'],
      ['empty string', ''],
      ['integer', 42],
      ['negative float', -3.25],
      ['zero', 0],
      ['true', true],
      ['false', false],
      ['object', { message: 'hi', nested: { list: [1, 'two', null], flag: false } }],
      ['array', [1, { a: 'b' }, [2, 3]]],
      ['empty object', {}],
      ['unicode', 'zaž 💡 "quoted" \\ back'],
    ];

    it.each(values)('round-trips a %s', async (label, value) => {
      const key = `value-${label.replace(/ /g, '-')}`;
      expect(await client.state.save(STORE, [{ key, value }])).toEqual({});
      expect(await client.state.get(STORE, key)).toEqual(value);
      const raw = await api.get(`/v1.0/state/${STORE}/${key}`);
      expect(raw.status).toBe(200);
      expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
      expect(raw.body).toEqual(value);
    });

    it('answers a raw save of "hello" with the JSON string "hello"', async () => {
      expect((await api.post(`/v1.0/state/${STORE}`, [{ key: 'raw-hello', value: 'hello' }])).status).toBe(204);
      const res = await fetch(`${cluster.url}/v1.0/state/${STORE}/raw-hello`, { headers: { 'dapr-api-token': cluster.ownerToken } });
      expect(await res.text()).toBe('"hello"');
    });

    it('answers 204 with no body for a missing key; the SDK sees an empty value', async () => {
      const res = await fetch(`${cluster.url}/v1.0/state/${STORE}/never-saved`, { headers: { 'dapr-api-token': cluster.ownerToken } });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe('');
      expect(await client.state.get(STORE, 'never-saved')).toBe('');
    });

    it('overwrites, deletes, and accepts consistency options (SDK)', async () => {
      await client.state.save(STORE, [{ key: 'ow', value: 1 }]);
      await client.state.save(STORE, [
        { key: 'ow', value: { v: 2 }, options: { consistency: StateConsistencyEnum.CONSISTENCY_STRONG, concurrency: StateConcurrencyEnum.CONCURRENCY_LAST_WRITE } },
      ]);
      expect(await client.state.get(STORE, 'ow', { consistency: StateConsistencyEnum.CONSISTENCY_EVENTUAL })).toEqual({ v: 2 });
      expect(await client.state.delete(STORE, 'ow')).toEqual({});
      expect(await client.state.get(STORE, 'ow')).toBe('');
      // Deleting what is not there is a success.
      expect(await client.state.delete(STORE, 'ow')).toEqual({});
    });

    it('saves several items in one call', async () => {
      await client.state.save(STORE, [
        { key: 'multi-1', value: 'a' },
        { key: 'multi-2', value: 'b' },
      ]);
      expect(await client.state.get(STORE, 'multi-1')).toBe('a');
      expect(await client.state.get(STORE, 'multi-2')).toBe('b');
    });

    it('keys may contain / and other characters, encoded in the path', async () => {
      const key = 'flxbl-io/sf-core:env#1 ?&%é';
      expect((await api.post(`/v1.0/state/${STORE}`, [{ key, value: 'slashed' }])).status).toBe(204);
      const res = await api.get(`/v1.0/state/${STORE}/${encodeURIComponent(key)}`);
      expect(res.status).toBe(200);
      expect(res.body).toBe('slashed');
      // The SDK does not encode keys: an unencoded "/" must reach the same key.
      await client.state.save(STORE, [{ key: 'org/repo', value: 'sdk-slash' }]);
      expect(await client.state.get(STORE, 'org/repo')).toBe('sdk-slash');
      expect((await api.get(`/v1.0/state/${STORE}/org%2Frepo`)).body).toBe('sdk-slash');
      expect((await api.delete(`/v1.0/state/${STORE}/${encodeURIComponent(key)}`)).status).toBe(204);
      expect((await api.get(`/v1.0/state/${STORE}/${encodeURIComponent(key)}`)).status).toBe(204);
    });

    it('keeps stores apart: the same key in two stores is two values', async () => {
      await client.state.save(STORE, [{ key: 'shared', value: 'one' }]);
      await client.state.save(OTHER, [{ key: 'shared', value: 'two' }]);
      expect(await client.state.get(STORE, 'shared')).toBe('one');
      expect(await client.state.get(OTHER, 'shared')).toBe('two');
      await client.state.delete(OTHER, 'shared');
      expect(await client.state.get(STORE, 'shared')).toBe('one');
      expect(await client.state.get(OTHER, 'shared')).toBe('');
    });
  });

  describe('etags', () => {
    it('changes the etag on every write and sends it as the ETag header', async () => {
      await client.state.save(STORE, [{ key: 'e1', value: 1 }]);
      const first = await api.get(`/v1.0/state/${STORE}/e1`);
      const etag1 = first.headers.get('etag');
      expect(etag1).toMatch(/^\S+$/);
      expect(await etagOf('e1')).toBe(etag1);
      await client.state.save(STORE, [{ key: 'e1', value: 1 }]);
      const etag2 = await etagOf('e1');
      expect(etag2).not.toBe(etag1);
      // A deleted and recreated key never gets an old etag back.
      await client.state.delete(STORE, 'e1');
      await client.state.save(STORE, [{ key: 'e1', value: 1 }]);
      expect([etag1, etag2]).not.toContain(await etagOf('e1'));
    });

    it('last-write: a matching etag wins, a stale one is 409 ERR_STATE_SAVE (SDK)', async () => {
      await client.state.save(STORE, [{ key: 'e2', value: 'v1' }]);
      const etag1 = await etagOf('e2');
      expect(await client.state.save(STORE, [{ key: 'e2', value: 'v2', etag: etag1 }])).toEqual({});
      const etag2 = await etagOf('e2');
      expect(etag2).not.toBe(etag1);
      const stale = sdkFailure(await client.state.save(STORE, [{ key: 'e2', value: 'v3', etag: etag1 }]));
      expect(stale.status).toBe(409);
      expect(stale.body.errorCode).toBe('ERR_STATE_SAVE');
      expect(stale.body.message).toMatch(/etag mismatch/);
      expect(await client.state.get(STORE, 'e2')).toBe('v2');
      // No etag: last-write always wins.
      expect(await client.state.save(STORE, [{ key: 'e2', value: 'v4' }])).toEqual({});
      expect(await client.state.get(STORE, 'e2')).toBe('v4');
    });

    it('an etag on a key that does not exist is a mismatch', async () => {
      const res = await api.post(`/v1.0/state/${STORE}`, [{ key: 'e-absent', value: 1, etag: '12345' }]);
      expect(res.status).toBe(409);
      expect(res.body.errorCode).toBe('ERR_STATE_SAVE');
      expect((await api.get(`/v1.0/state/${STORE}/e-absent`)).status).toBe(204);
    });

    it('an etag that could never match (not this store\'s integer form) is 400, as Dapr answers ETagInvalid', async () => {
      await client.state.save(STORE, [{ key: 'e-bad', value: 1 }]);
      for (const etag of ['not-an-etag', '-1', '0', '1.5', '99999999999999999999']) {
        const save = await api.post(`/v1.0/state/${STORE}`, [{ key: 'e-bad', value: 2, etag }]);
        expect({ etag, status: save.status, body: save.body }).toEqual({
          etag,
          status: 400,
          body: { errorCode: 'ERR_STATE_SAVE', message: expect.stringMatching(/^failed saving state in state store statestore: invalid etag value/) },
        });
        const del = await api.delete(`/v1.0/state/${STORE}/e-bad`, { 'if-match': etag });
        expect({ etag, status: del.status, code: del.body.errorCode }).toEqual({ etag, status: 400, code: 'ERR_STATE_DELETE' });
      }
      expect(await client.state.get(STORE, 'e-bad')).toBe(1);
    });

    it('delete: If-Match must match (409 ERR_STATE_DELETE), then deletes (SDK and raw)', async () => {
      await client.state.save(STORE, [{ key: 'e3', value: 1 }]);
      const etag1 = await etagOf('e3');
      await client.state.save(STORE, [{ key: 'e3', value: 2 }]);
      const etag2 = await etagOf('e3');
      const stale = sdkFailure(await client.state.delete(STORE, 'e3', { etag: etag1 }));
      expect(stale.status).toBe(409);
      expect(stale.body.errorCode).toBe('ERR_STATE_DELETE');
      const raw = await api.delete(`/v1.0/state/${STORE}/e3`, { 'if-match': etag1 });
      expect(raw.status).toBe(409);
      expect(raw.body).toEqual({ errorCode: 'ERR_STATE_DELETE', message: expect.stringMatching(/^failed deleting state with key e3: possible etag mismatch/) });
      expect(await client.state.get(STORE, 'e3')).toBe(2);
      expect(await client.state.delete(STORE, 'e3', { etag: etag2 })).toEqual({});
      expect(await client.state.get(STORE, 'e3')).toBe('');
      // An etag for a key that is gone is a mismatch too.
      expect((await api.delete(`/v1.0/state/${STORE}/e3`, { 'if-match': etag2 })).status).toBe(409);
    });

    it('first-write: without an etag only the first write of a key wins (SDK)', async () => {
      const firstWrite = { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_STRONG };
      expect(await client.state.save(STORE, [{ key: 'fw', value: 'first', options: firstWrite }])).toEqual({});
      const second = sdkFailure(await client.state.save(STORE, [{ key: 'fw', value: 'second', options: firstWrite }]));
      expect(second.status).toBe(409);
      expect(second.body.errorCode).toBe('ERR_STATE_SAVE');
      expect(await client.state.get(STORE, 'fw')).toBe('first');
      // With the current etag it succeeds; with the old one it fails.
      const etag1 = await etagOf('fw');
      expect(await client.state.save(STORE, [{ key: 'fw', value: 'third', etag: etag1, options: firstWrite }])).toEqual({});
      expect(sdkFailure(await client.state.save(STORE, [{ key: 'fw', value: 'fourth', etag: etag1, options: firstWrite }])).status).toBe(409);
      expect(await client.state.get(STORE, 'fw')).toBe('third');
      // Delete with first-write and a stale etag fails; with the current one it works; afterwards the key is new again.
      expect(sdkFailure(await client.state.delete(STORE, 'fw', { etag: etag1, concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE })).status).toBe(409);
      expect(await client.state.delete(STORE, 'fw', { etag: await etagOf('fw'), concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE })).toEqual({});
      expect(await client.state.save(STORE, [{ key: 'fw', value: 'again', options: firstWrite }])).toEqual({});
      // Raw query-string form of delete's concurrency.
      expect((await api.delete(`/v1.0/state/${STORE}/fw?concurrency=first-write`)).status).toBe(204);
    });

    it('a batch save is all or nothing', async () => {
      await client.state.save(STORE, [{ key: 'batch-existing', value: 'old' }]);
      const res = await api.post(`/v1.0/state/${STORE}`, [
        { key: 'batch-new', value: 'x' },
        { key: 'batch-existing', value: 'new', etag: '999999999' },
      ]);
      expect(res.status).toBe(409);
      expect((await api.get(`/v1.0/state/${STORE}/batch-new`)).status).toBe(204);
      expect(await client.state.get(STORE, 'batch-existing')).toBe('old');
    });

    it('concurrent writers with the same etag, across two instances: exactly one wins', async () => {
      const second = await cluster.addInstance();
      try {
        await client.state.save(STORE, [{ key: 'race', value: 0 }]);
        const etag = await etagOf('race');
        const urls = [cluster.url, second.url];
        const attempts = Array.from({ length: 24 }, (_, i) =>
          http(urls[i % 2], cluster.ownerToken).post(`/v1.0/state/${STORE}`, [{ key: 'race', value: i + 1, etag }]),
        );
        const statuses = (await Promise.all(attempts)).map((r) => r.status);
        expect(statuses.filter((s) => s === 204)).toHaveLength(1);
        expect(statuses.filter((s) => s === 409)).toHaveLength(23);
        const winner = statuses.indexOf(204) + 1;
        expect(await client.state.get(STORE, 'race')).toBe(winner);

        // Same for first-write creation of a new key, and for deletes with one etag.
        const creates = await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            http(urls[i % 2], cluster.ownerToken).post(`/v1.0/state/${STORE}`, [{ key: 'race-new', value: i, options: { concurrency: 'first-write' } }]),
          ),
        );
        expect(creates.filter((r) => r.status === 204)).toHaveLength(1);
        const etag2 = await etagOf('race');
        const deletes = await Promise.all(
          Array.from({ length: 16 }, (_, i) => http(urls[i % 2], cluster.ownerToken).delete(`/v1.0/state/${STORE}/race`, { 'if-match': etag2 })),
        );
        expect(deletes.filter((r) => r.status === 204)).toHaveLength(1);
        expect(deletes.filter((r) => r.status === 409)).toHaveLength(15);
      } finally {
        await cluster.stopInstance(second);
      }
    });
  });

  describe('bulk get', () => {
    it('returns every key in order, a missing key as {key} alone (SDK and raw)', async () => {
      await client.state.save(STORE, [
        { key: 'b1', value: { n: 1 } },
        { key: 'b2', value: 'two' },
      ]);
      const items = (await client.state.getBulk(STORE, ['b1', 'b-missing', 'b2'], { parallelism: 4 })) as unknown as Record<string, unknown>[];
      expect(items).toEqual([
        { key: 'b1', data: { n: 1 }, etag: expect.any(String) },
        { key: 'b-missing' },
        { key: 'b2', data: 'two', etag: expect.any(String) },
      ]);
      const raw = await api.post(`/v1.0/state/${STORE}/bulk`, { keys: ['b2', 'b2'], parallelism: 1 });
      expect(raw.status).toBe(200);
      expect(raw.body.map((i: { key: string }) => i.key)).toEqual(['b2', 'b2']);
      const empty = await api.post(`/v1.0/state/${STORE}/bulk`, { keys: [] });
      expect(empty.status).toBe(200);
      expect(empty.body).toEqual([]);
    });

    it('refuses bad bodies and too many keys', async () => {
      expect((await api.post(`/v1.0/state/${STORE}/bulk`, { keys: 'b1' })).body.errorCode).toBe('ERR_MALFORMED_REQUEST');
      expect((await api.post(`/v1.0/state/${STORE}/bulk`, { keys: ['a||b'] })).body.errorCode).toBe('ERR_MALFORMED_REQUEST');
      const tooMany = await api.post(`/v1.0/state/${STORE}/bulk`, { keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) });
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.errorCode).toBe('ERR_MALFORMED_REQUEST');
    });
  });

  describe('transactions', () => {
    it('applies upserts and deletes in order (SDK)', async () => {
      await client.state.save(STORE, [{ key: 'tx-del', value: 'bye' }]);
      await client.state.transaction(STORE, [
        { operation: 'upsert', request: { key: 'tx-a', value: 1 } },
        { operation: 'upsert', request: { key: 'tx-a', value: 2 } },
        { operation: 'delete', request: { key: 'tx-del' } },
        { operation: 'upsert', request: { key: 'tx-b', value: { ok: true } } },
        { operation: 'delete', request: { key: 'tx-b' } },
        { operation: 'upsert', request: { key: 'tx-c', value: 'c' } },
      ]);
      expect(await client.state.get(STORE, 'tx-a')).toBe(2);
      expect(await client.state.get(STORE, 'tx-del')).toBe('');
      expect(await client.state.get(STORE, 'tx-b')).toBe('');
      expect(await client.state.get(STORE, 'tx-c')).toBe('c');
    });

    it('honours etags inside a transaction and metadata may be null', async () => {
      await client.state.save(STORE, [{ key: 'tx-e', value: 1 }]);
      const etag = await etagOf('tx-e');
      const res = await api.post(`/v1.0/state/${STORE}/transaction`, {
        operations: [
          { operation: 'upsert', request: { key: 'tx-e', value: 2, etag } },
          { operation: 'delete', request: { key: 'tx-f' } },
        ],
        metadata: null,
      });
      expect(res.status).toBe(204);
      expect(await client.state.get(STORE, 'tx-e')).toBe(2);
    });

    it('is all or nothing: a stale etag anywhere is 500 ERR_STATE_TRANSACTION and nothing is applied', async () => {
      await client.state.save(STORE, [{ key: 'tx-keep', value: 'original' }]);
      const etag = await etagOf('tx-keep');
      await client.state.save(STORE, [{ key: 'tx-keep', value: 'current' }]);
      const failure = await sdkThrown(
        client.state.transaction(STORE, [
          { operation: 'upsert', request: { key: 'tx-new', value: 'should not exist' } },
          { operation: 'delete', request: { key: 'tx-keep' } },
          // The SDK types a transaction etag as {value} (its gRPC shape) and sends it so.
          { operation: 'upsert', request: { key: 'tx-keep', value: 'stale', etag: { value: etag } } },
        ]),
      );
      expect(failure.status).toBe(500);
      expect(failure.body.errorCode).toBe('ERR_STATE_TRANSACTION');
      expect(failure.body.message).toMatch(/^error while executing state transaction: /);
      expect(await client.state.get(STORE, 'tx-new')).toBe('');
      expect(await client.state.get(STORE, 'tx-keep')).toBe('current');
      await client.state.transaction(STORE, [{ operation: 'delete', request: { key: 'tx-keep', etag: { value: await etagOf('tx-keep') } } }]);
      expect(await client.state.get(STORE, 'tx-keep')).toBe('');
      await client.state.save(STORE, [{ key: 'tx-keep', value: 'current' }]);
      // A first-write conflict inside fails it the same way.
      const fw = await api.post(`/v1.0/state/${STORE}/transaction`, {
        operations: [
          { operation: 'upsert', request: { key: 'tx-new', value: 1 } },
          { operation: 'upsert', request: { key: 'tx-keep', value: 2, options: { concurrency: 'first-write' } } },
        ],
      });
      expect(fw.status).toBe(500);
      expect((await api.get(`/v1.0/state/${STORE}/tx-new`)).status).toBe(204);
    });

    it('concurrent multi-key writes over the same keys in opposite orders all succeed (no deadlock)', async () => {
      const keys = ['tx-dl-a', 'tx-dl-b', 'tx-dl-c'];
      const started = Date.now();
      const calls = Array.from({ length: 30 }, (_, i) => {
        const order = i % 2 ? keys : [...keys].reverse();
        return i % 3 === 0
          ? api.post(`/v1.0/state/${STORE}`, order.map((key) => ({ key, value: i })))
          : api.post(`/v1.0/state/${STORE}/transaction`, { operations: order.map((key) => ({ operation: 'upsert', request: { key, value: i } })) });
      });
      const statuses = (await Promise.all(calls)).map((r) => r.status);
      expect(statuses).toEqual(statuses.map(() => 204));
      // Postgres would detect a deadlock only after deadlock_timeout (1 s); none happened.
      expect(Date.now() - started).toBeLessThan(5_000);
      // Each write was atomic: all three keys carry the value of the same (last) writer.
      const items = (await client.state.getBulk(STORE, keys)) as unknown as { data: number }[];
      expect(new Set(items.map((i) => i.data)).size).toBe(1);
    });

    it('refuses an unknown operation with 400 ERR_NOT_SUPPORTED_STATE_OPERATION, applying nothing', async () => {
      const res = await api.post(`/v1.0/state/${STORE}/transaction`, {
        operations: [
          { operation: 'upsert', request: { key: 'tx-unknown', value: 1 } },
          { operation: 'merge', request: { key: 'tx-unknown', value: 2 } },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ errorCode: 'ERR_NOT_SUPPORTED_STATE_OPERATION', message: 'operation type merge not supported' });
      expect((await api.get(`/v1.0/state/${STORE}/tx-unknown`)).status).toBe(204);
    });

    it('accepts an empty transaction and refuses malformed ones', async () => {
      expect((await api.post(`/v1.0/state/${STORE}/transaction`, { operations: [] })).status).toBe(204);
      for (const body of [[], { operations: 'x' }, { operations: [{ operation: 'upsert', request: { value: 1 } }] }, { operations: [{ operation: 'upsert', request: { key: 'k', value: 1, etag: 7 } }] }]) {
        const res = await api.post(`/v1.0/state/${STORE}/transaction`, body);
        expect(res.status).toBe(400);
        expect(res.body.errorCode).toBe('ERR_MALFORMED_REQUEST');
      }
    });
  });

  describe('errors and access', () => {
    it('answers 400 ERR_STATE_STORE_NOT_FOUND for an unknown store on every route', async () => {
      const calls = [
        api.post('/v1.0/state/nostore', [{ key: 'k', value: 1 }]),
        api.get('/v1.0/state/nostore/k'),
        api.delete('/v1.0/state/nostore/k'),
        api.post('/v1.0/state/nostore/bulk', { keys: ['k'] }),
        api.post('/v1.0/state/nostore/transaction', { operations: [] }),
        api.post('/v1.0-alpha1/state/nostore/query', {}),
      ];
      for (const res of await Promise.all(calls)) {
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ errorCode: 'ERR_STATE_STORE_NOT_FOUND', message: 'state store nostore is not found' });
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      }
      const sdk = sdkFailure(await client.state.save('nostore', [{ key: 'k', value: 1 }]));
      expect(sdk.status).toBe(400);
      expect(sdk.body.errorCode).toBe('ERR_STATE_STORE_NOT_FOUND');
    });

    it('answers 400 ERR_MALFORMED_REQUEST for malformed bodies, missing keys, || and non-string etags', async () => {
      const bad: unknown[] = [
        '{"key": "k", ',
        '{"key": "k", "value": 1}',
        [{ value: 1 }],
        [{ key: '', value: 1 }],
        [{ key: 'a||b', value: 1 }],
        [{ key: 'k', value: 1, etag: 5 }],
        [{ key: 'k', value: 1, metadata: { ttlInSeconds: 'soon' } }],
        [{ key: 'k', value: 1, options: { concurrency: 'sometimes' } }],
        [{ key: 'x'.repeat(1001), value: 1 }],
      ];
      for (const body of bad) {
        const res = await api.post(`/v1.0/state/${STORE}`, body);
        expect({ body, status: res.status, code: res.body?.errorCode }).toEqual({ body, status: 400, code: 'ERR_MALFORMED_REQUEST' });
      }
      const pipes = await api.get(`/v1.0/state/${STORE}/a%7C%7Cb`);
      expect(pipes.status).toBe(400);
      expect(pipes.body).toEqual({ errorCode: 'ERR_MALFORMED_REQUEST', message: "input key/keyPrefix 'a||b' can't contain '||'" });
      expect((await api.delete(`/v1.0/state/${STORE}/a%7C%7Cb`)).status).toBe(400);
      // An empty array saves nothing and succeeds, as in Dapr.
      expect((await api.post(`/v1.0/state/${STORE}`, [])).status).toBe(204);
    });

    it('names the field when a key or value cannot be stored as given, and a path key as the path\'s', async () => {
      const message = async (body: string, query = '') => {
        const res = await api.post(`/v1.0/state/${STORE}${query}`, body);
        expect({ status: res.status, code: res.body?.errorCode }).toEqual({ status: 400, code: 'ERR_MALFORMED_REQUEST' });
        return res.body.message as string;
      };
      // A lone surrogate would be stored as U+FFFD: "ls\ud800" and "ls\udbff" would be one key.
      expect(await message('[{"key":"ls\\ud800","value":1}]')).toBe('failed deserializing HTTP body: [0].key must be well-formed Unicode (no lone surrogates)');
      expect(await message('{"keys":["ok","ls\\udbff"]}', '/bulk')).toMatch(/keys\[1\] must be well-formed Unicode/);
      expect(await message('[{"key":"k","value":{"list":["fine","a\\u0000b"]}}]')).toBe(
        'failed deserializing HTTP body: [0].value.list[1] must not contain NUL characters or lone UTF-16 surrogates',
      );
      expect(await message('[{"key":"k","value":{"t":"x\\udc00"}}]')).toMatch(/\[0\]\.value\.t must not contain/);
      expect(await message('[{"key":"a","value":1},{"key":"b","value":2}]', '?metadata.ttlInSeconds=abc')).toBe(
        'failed deserializing HTTP body: the query parameter metadata.ttlInSeconds must be an integer',
      );
      expect(await message('[{"key":"k","value":1,"metadata":{"ttlInSeconds":"99999999999"}}]')).toMatch(/\[0\]\.metadata\.ttlInSeconds must be at most/);
      const long = await api.get(`/v1.0/state/${STORE}/${'x'.repeat(1001)}`);
      expect(long.body).toEqual({ errorCode: 'ERR_MALFORMED_REQUEST', message: 'the key in the URL path must be at most 1000 characters' });
    });

    it('answers 401 without a key and 403 to a member; applications and dapr-api-token are accepted', async () => {
      const anon = await http(cluster.url).get(`/v1.0/state/${STORE}/k`);
      expect(anon.status).toBe(401);
      expect(anon.body.errorCode).toBe('ERR_UNAUTHORIZED');
      const member = await createUser(cluster.url, cluster.ownerToken, { name: 'state-member', role: 'member' });
      const forbidden = await http(cluster.url, member.apiKey).post(`/v1.0/state/${STORE}`, [{ key: 'k', value: 1 }]);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body).toEqual({ errorCode: 'ERR_PERMISSION_DENIED', message: 'Requires role: owner, application' });
      const viaHeader = await http(cluster.url).get(`/v1.0/state/${STORE}/k`, { 'dapr-api-token': member.apiKey });
      expect(viaHeader.status).toBe(403);
      const app = await createUser(cluster.url, cluster.ownerToken, { name: 'state-app', role: 'application' });
      expect((await http(cluster.url, app.apiKey).post(`/v1.0/state/${STORE}`, [{ key: 'by-app', value: 1 }])).status).toBe(204);
      expect((await http(cluster.url).get(`/v1.0/state/${STORE}/by-app`, { 'dapr-api-token': app.apiKey })).body).toBe(1);
    });

    it('lets a key limited to repositories reach only the stores its patterns name, as with lock stores', async () => {
      const limited = await createUser(cluster.url, cluster.ownerToken, { name: 'state-limited', role: 'application', repositories: [OTHER] });
      const as = http(cluster.url, limited.apiKey);
      for (const res of [
        await as.post(`/v1.0/state/${STORE}`, [{ key: 'k', value: 1 }]),
        await as.get(`/v1.0/state/${STORE}/k`),
        await as.delete(`/v1.0/state/${STORE}/k`),
        await as.post(`/v1.0/state/${STORE}/bulk`, { keys: ['k'] }),
        await as.post(`/v1.0/state/${STORE}/transaction`, { operations: [] }),
        await as.post(`/v1.0-alpha1/state/${STORE}/query`, { filter: {} }),
      ]) {
        expect({ status: res.status, body: res.body }).toEqual({
          status: 403,
          body: { errorCode: 'ERR_PERMISSION_DENIED', message: `This key may not access state store '${STORE}'` },
        });
      }
      expect((await as.post(`/v1.0/state/${OTHER}`, [{ key: 'mine', value: 2 }])).status).toBe(204);
      expect((await as.get(`/v1.0/state/${OTHER}/mine`)).body).toBe(2);
      // An unknown store is still Dapr's 400 first.
      expect((await as.get('/v1.0/state/nostore/k')).body.errorCode).toBe('ERR_STATE_STORE_NOT_FOUND');
    });

    it('documents the state routes in the OpenAPI document', async () => {
      const doc = await http(cluster.url).get('/docs-json');
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(['/v1.0/state/{store}', '/v1.0/state/{store}/{key}', '/v1.0/state/{store}/bulk', '/v1.0/state/{store}/transaction', '/v1.0-alpha1/state/{store}/query']),
      );
    });
  });
});
