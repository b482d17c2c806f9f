import { DaprClient } from '@dapr/dapr';
import { http, startCluster, TestCluster } from './support/test-app';
import { daprClient } from './support/dapr-client';

/*
 * State query API end to end, on the data set of Dapr's query how-to (employees by org, id,
 * city, state) plus values that probe types: a numeric id stored as a string, booleans, arrays,
 * a plain string value and a value without the queried fields.
 */

const STORE = 'statestore';
const OTHER = 'otherstore';

const EMPLOYEES: Record<string, unknown> = {
  '1': { person: { org: 'Dev Ops', id: 1036 }, city: 'Seattle', state: 'WA' },
  '2': { person: { org: 'Hardware', id: 1028 }, city: 'Portland', state: 'OR' },
  '3': { person: { org: 'Finance', id: 1071 }, city: 'Sacramento', state: 'CA' },
  '4': { person: { org: 'Dev Ops', id: 1042 }, city: 'Spokane', state: 'WA' },
  '5': { person: { org: 'Hardware', id: 1007 }, city: 'Los Angeles', state: 'CA' },
  '6': { person: { org: 'Finance', id: 1094 }, city: 'Eugene', state: 'OR' },
  '7': { person: { org: 'Dev Ops', id: 1015 }, city: 'San Francisco', state: 'CA' },
  '8': { person: { org: 'Hardware', id: 1077 }, city: 'Redmond', state: 'WA' },
  '9': { person: { org: 'Finance', id: 1002 }, city: 'San Diego', state: 'CA' },
  '10': { person: { org: 'Dev Ops', id: 1054 }, city: 'New York', state: 'NY' },
};
const ODD: Record<string, unknown> = {
  'odd-string-id': { person: { org: 'Dev Ops', id: '1040' }, active: true },
  'odd-tags': { tags: ['a', 'b'], active: false },
  'odd-plain': 'just a string',
};
const EMPLOYEE_KEYS = Object.keys(EMPLOYEES);
const byId = (keys: string[]) => [...keys].sort((a, b) => (EMPLOYEES[a] as any).person.id - (EMPLOYEES[b] as any).person.id);

describe('Dapr state query API', () => {
  let cluster: TestCluster;
  let client: DaprClient;
  let api: ReturnType<typeof http>;

  const keysOf = async (body: unknown, path = `/v1.0-alpha1/state/${STORE}/query`): Promise<string[]> => {
    const res = await api.post(path, body);
    if (res.status === 204) return [];
    expect(res.status).toBe(200);
    return res.body.results.map((r: { key: string }) => r.key);
  };
  const setOf = async (filter: unknown) => (await keysOf({ filter })).sort();

  beforeAll(async () => {
    cluster = await startCluster(1, { DAPR_STATE_STORES: `${STORE},${OTHER}` });
    client = daprClient(cluster.url, cluster.ownerToken);
    api = http(cluster.url, cluster.ownerToken);
    const items = Object.entries({ ...EMPLOYEES, ...ODD }).map(([key, value]) => ({ key, value }));
    expect(await client.state.save(STORE, items)).toEqual({});
    // Same shapes in another store must never show up.
    expect(await client.state.save(OTHER, [{ key: 'other-1', value: EMPLOYEES['1'] }])).toEqual({});
  });

  afterAll(async () => {
    await client?.stop();
    await cluster?.close();
  });

  it('runs the Dapr docs example through the SDK (v1.0-alpha1) with sort and returns data and etags', async () => {
    const res = await client.state.query(STORE, {
      filter: {
        OR: [{ EQ: { 'person.org': 'Dev Ops' } }, { AND: [{ EQ: { 'person.org': 'Finance' } }, { IN: { state: ['CA', 'WA'] } }] }],
      },
      sort: [{ key: 'state', order: 'DESC' }, { key: 'person.id' }],
      page: { limit: 100 },
    });
    // WA: 1036, 1042; NY: 1054; CA: 1002 (Finance), 1015, 1071 (Finance); no state: the string id, last.
    expect(res.results.map((r) => r.key)).toEqual(['1', '4', '10', '9', '7', '3', 'odd-string-id']);
    expect(res.token).toBeUndefined();
    const first = res.results[0];
    expect(first.data).toEqual(EMPLOYEES['1']);
    const get = await api.get(`/v1.0/state/${STORE}/1`);
    expect(first.etag).toBe(get.headers.get('etag'));
  });

  it('is served at /v1.0/state/{store}/query too', async () => {
    expect((await keysOf({ filter: { EQ: { state: 'NY' } } }, `/v1.0/state/${STORE}/query`))).toEqual(['10']);
  });

  it('EQ compares strings, numbers, booleans and objects exactly', async () => {
    expect(await setOf({ EQ: { 'person.org': 'Finance' } })).toEqual(['3', '6', '9']);
    expect(await setOf({ EQ: { 'person.id': 1036 } })).toEqual(['1']);
    // A number never equals a numeric string, and the other way round.
    expect(await setOf({ EQ: { 'person.id': 1040 } })).toEqual([]);
    expect(await setOf({ EQ: { 'person.id': '1040' } })).toEqual(['odd-string-id']);
    expect(await setOf({ EQ: { active: true } })).toEqual(['odd-string-id']);
    expect(await setOf({ EQ: { active: false } })).toEqual(['odd-tags']);
    expect(await setOf({ EQ: { person: { id: 1071, org: 'Finance' } } })).toEqual(['3']);
    expect(await setOf({ EQ: { person: { org: 'Finance' } } })).toEqual([]);
    expect(await setOf({ EQ: { tags: ['a', 'b'] } })).toEqual(['odd-tags']);
    expect(await setOf({ EQ: { 'tags.0': 'a' } })).toEqual(['odd-tags']);
  });

  it('NEQ keeps values that lack the field', async () => {
    const notCa = await setOf({ NEQ: { state: 'CA' } });
    expect(notCa).toEqual(['1', '10', '2', '4', '6', '8', 'odd-plain', 'odd-string-id', 'odd-tags']);
  });

  it('GT, GTE, LT, LTE compare numbers numerically and strings as text, never across types', async () => {
    expect(await setOf({ GT: { 'person.id': 1071 } })).toEqual(['6', '8']);
    expect(await setOf({ GTE: { 'person.id': 1071 } })).toEqual(['3', '6', '8']);
    expect(await setOf({ LT: { 'person.id': 1015 } })).toEqual(['5', '9']);
    expect(await setOf({ LTE: { 'person.id': 1015 } })).toEqual(['5', '7', '9']);
    // The string "1040" is not a number, so a numeric range never matches it.
    expect(await setOf({ LT: { 'person.id': 1041 } })).toEqual(['1', '2', '5', '7', '9']);
    expect(await setOf({ GTE: { city: 'S' } })).toEqual(['1', '3', '4', '7', '9']);
    expect(await setOf({ LT: { state: 'NY' } })).toEqual(['3', '5', '7', '9']);
    expect(await setOf({ GT: { 'person.id': '1' } })).toEqual(['odd-string-id']);
  });

  it('IN matches any listed value', async () => {
    expect(await setOf({ IN: { state: ['OR', 'NY'] } })).toEqual(['10', '2', '6']);
    expect(await setOf({ IN: { 'person.id': [1002, 1007, '1040'] } })).toEqual(['5', '9', 'odd-string-id']);
    expect(await setOf({ IN: { state: [] } })).toEqual([]);
  });

  it('AND and OR nest', async () => {
    expect(await setOf({ AND: [{ EQ: { 'person.org': 'Hardware' } }, { GT: { 'person.id': 1010 } }] })).toEqual(['2', '8']);
    expect(await setOf({ OR: [{ EQ: { state: 'NY' } }, { EQ: { active: false } }, { AND: [{ EQ: { state: 'OR' } }, { LT: { 'person.id': 1030 } }] }] })).toEqual([
      '10',
      '2',
      'odd-tags',
    ]);
  });

  it('sorts by one or more dot paths, ASC by default, missing fields last', async () => {
    const all = { IN: { state: ['CA', 'WA', 'OR', 'NY'] } };
    expect(await keysOf({ filter: all, sort: [{ key: 'person.id' }] })).toEqual(byId(EMPLOYEE_KEYS));
    expect(await keysOf({ filter: all, sort: [{ key: 'person.id', order: 'DESC' }] })).toEqual(byId(EMPLOYEE_KEYS).reverse());
    expect(await keysOf({ filter: { EQ: { 'person.org': 'Dev Ops' } }, sort: [{ key: 'state', order: 'ASC' }, { key: 'person.id', order: 'DESC' }] })).toEqual([
      '7',
      '10',
      '4',
      '1',
      'odd-string-id',
    ]);
  });

  it('pages with limit and an opaque token, returning a token only while more may follow (SDK)', async () => {
    const query = { filter: { IN: { state: ['CA', 'WA', 'OR', 'NY'] } }, sort: [{ key: 'person.id', order: 'ASC' as const }] };
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await client.state.query(STORE, { ...query, page: { limit: 3, ...(token && { token }) } });
      pageSizes.push(res.results.length);
      seen.push(...res.results.map((r) => r.key));
      token = res.token;
      if (!token) break;
      expect(typeof token).toBe('string');
    }
    expect(pageSizes).toEqual([3, 3, 3, 1]);
    expect(seen).toEqual(byId(EMPLOYEE_KEYS));
    // An exact multiple ends without a dangling token.
    const first = await client.state.query(STORE, { ...query, page: { limit: 5 } });
    const second = await client.state.query(STORE, { ...query, page: { limit: 5, token: first.token } });
    expect(second.results).toHaveLength(5);
    expect(second.token).toBeUndefined();
  });

  it('answers 204 with no body when nothing matches; the SDK sees no results', async () => {
    const res = await fetch(`${cluster.url}/v1.0-alpha1/state/${STORE}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'dapr-api-token': cluster.ownerToken },
      body: JSON.stringify({ filter: { EQ: { state: 'TX' } } }),
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(await client.state.query(STORE, { filter: { EQ: { state: 'TX' } }, sort: [], page: { limit: 10 } })).toEqual({ results: [] });
  });

  it('without a filter returns the whole store, and only that store', async () => {
    const keys = await keysOf({});
    expect(keys.sort()).toEqual([...EMPLOYEE_KEYS, ...Object.keys(ODD)].sort());
    expect(await keysOf({}, `/v1.0-alpha1/state/${OTHER}/query`)).toEqual(['other-1']);
  });

  it('treats hostile values as plain data', async () => {
    const hostile = "x' OR '1'='1'); DROP TABLE state_entries; --";
    expect(await setOf({ EQ: { state: hostile } })).toEqual([]);
    expect(await setOf({ GT: { state: hostile } })).toEqual([]);
    expect(await setOf({ EQ: { 'person.org': 'Finance' } })).toEqual(['3', '6', '9']);
  });

  it('refuses bad queries with 400 ERR_MALFORMED_REQUEST', async () => {
    const bad: unknown[] = [
      [1, 2],
      { filter: { LIKE: { state: 'C%' } } },
      { filter: { EQ: { state: 'CA' }, NEQ: { state: 'WA' } } },
      { filter: { EQ: { state: 'CA', city: 'x' } } },
      { filter: { IN: { state: 'CA' } } },
      { filter: { AND: [{ EQ: { state: 'CA' } }] } },
      { filter: { GT: { active: true } } },
      { filter: { EQ: { "state') OR 1=1 --": 'x' } } },
      { sort: [{ key: 'state', order: 'SIDEWAYS' }] },
      { page: { limit: -1 } },
      { page: { limit: 5000 } },
      { page: { limit: 5, token: 'not-ours' } },
      '{"filter": ',
    ];
    for (const body of bad) {
      const res = await api.post(`/v1.0-alpha1/state/${STORE}/query`, body);
      expect({ body, status: res.status, code: res.body?.errorCode }).toEqual({ body, status: 400, code: 'ERR_MALFORMED_REQUEST' });
    }
  });
});
