import { StateStore } from '../src/state/state-store';
import { PostgresStateStore } from '../src/state/postgres-state-store';
import { http, startCluster, TestCluster } from './support/test-app';

/**
 * Gets and plain saves that arrive together share one statement (and the saves one commit).
 * Every caller must still get exactly its own answer, whatever else was in its batch.
 */
const STORE = 'statestore';
const enc = encodeURIComponent;

describe('Dapr state calls batched together', () => {
  let cluster: TestCluster;
  let store: PostgresStateStore;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    cluster = await startCluster(1);
    store = cluster.instances[0].app.get(StateStore) as PostgresStateStore;
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const save = (items: unknown) => api.post(`/v1.0/state/${STORE}`, items);
  const get = (key: string) => api.get(`/v1.0/state/${STORE}/${enc(key)}`);

  it('saves values of every kind from concurrent requests and reads each back exactly, in shared batches', async () => {
    const values: unknown[] = [
      'plain', '', 'quote " and backslash \\ and {braces} and ,commas,', 'NULL', '"', '\\', 'ünïcödé 💥', 0, -1.5, 1e308, true, false, null,
      [], {}, [1, 'two', { three: [3] }], { a: { b: { c: 'd' } }, 'k"ey': 'v\\al' }, '{"looks":"like json"}', "'single'", 'line\nbreak\ttab',
    ];
    const keys = values.map((_, i) => `kind-${i}`);
    const before = { ...store.saves.stats };
    const saved = await Promise.all(keys.map((key, i) => save([{ key, value: values[i] }])));
    expect(saved.map((r) => r.status)).toEqual(keys.map(() => 204));
    expect(store.saves.stats.operations).toBeGreaterThan(before.operations);

    const readsBefore = { ...store.reads.stats };
    const read = await Promise.all([...keys, 'never-saved', keys[0]].map(get));
    expect(read.map((r) => r.status)).toEqual([...keys.map(() => 200), 204, 200]);
    // fetch parses what came back: the same JSON value each was saved with.
    expect(read.slice(0, keys.length).map((r) => r.body)).toEqual(values.map((v) => (v === '' ? '' : v)));
    expect(read[keys.length + 1].body).toEqual(values[0]);
    expect(store.reads.stats.operations).toBeGreaterThan(readsBefore.operations);
  });

  it('applies concurrent saves of one key in the order they arrived, each with a new etag', async () => {
    const answers = await Promise.all([1, 2, 3, 4].map((n) => save([{ key: 'same', value: n }])));
    expect(answers.map((r) => r.status)).toEqual([204, 204, 204, 204]);
    // In one turn of the event loop (as requests read together are): one of each key per
    // statement, so no batch fails on a row changed twice (and falls back to one call each).
    const failedBefore = store.saves.stats.failed;
    const direct = await Promise.all(
      [1, 2, 3, 4].flatMap((n) => [`same-${n}`, 'same'].map((key) => store.write(STORE, [{ kind: 'upsert', key, value: n, etag: null, concurrency: 'last-write', ttlSeconds: null }]))),
    );
    expect(direct.every((r) => r.ok)).toBe(true);
    expect(store.saves.stats.failed).toBe(failedBefore);
    expect((await get('same')).body).toBe(4);
    const last = await get('same');
    // An etag is never reused: the next plain save gets another.
    await save([{ key: 'same', value: 5 }]);
    expect(Number((await get('same')).headers.get('etag'))).toBeGreaterThan(Number(last.headers.get('etag')));
  });

  it('keeps a time to live given in a batched save, and a read in a batch does not see an expired value', async () => {
    await Promise.all([save([{ key: 'ttl-short', value: 'gone soon', metadata: { ttlInSeconds: '1' } }]), save([{ key: 'ttl-none', value: 'stays' }])]);
    expect((await get('ttl-short')).body).toBe('gone soon');
    await new Promise((r) => setTimeout(r, 1_200));
    const [short, none] = await Promise.all([get('ttl-short'), get('ttl-none')]);
    expect([short.status, none.status, none.body]).toEqual([204, 200, 'stays']);
  });

  it('answers a save that cannot be stored on its own, and saves the others of its batch', async () => {
    // A NUL inside a JSON string is valid JSON that PostgreSQL's jsonb refuses.
    const answers = await Promise.all([save([{ key: 'ok-1', value: 'fine' }]), save([{ key: 'bad', value: 'a\u0000b' }]), save([{ key: 'ok-2', value: 'fine too' }])]);
    expect(answers[0].status).toBe(204);
    expect(answers[2].status).toBe(204);
    expect(answers[1].status).toBeGreaterThanOrEqual(400);
    expect(answers[1].status).toBeLessThan(500);
    expect(answers[1].body).toMatchObject({ errorCode: expect.any(String), message: expect.stringMatching(/value/i) });
    expect([(await get('ok-1')).body, (await get('ok-2')).body, (await get('bad')).status]).toEqual(['fine', 'fine too', 204]);
  });
});
