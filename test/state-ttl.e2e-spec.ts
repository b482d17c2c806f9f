import { DaprClient } from '@dapr/dapr';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { http, startCluster, TestCluster } from './support/test-app';
import { daprClient } from './support/dapr-client';

/*
 * metadata.ttlInSeconds end to end: expired values are hidden by every read the moment they
 * expire (before any purge), and the BullMQ purge job deletes their rows.
 */

const STORE = 'statestore';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const sdkClient = (cluster: TestCluster): DaprClient => daprClient(cluster.url, cluster.ownerToken);

async function rowCount(databaseUrl: string, keys: string[]): Promise<number> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    const { rows } = await pg.query(`SELECT count(*)::int AS n FROM state_entries WHERE store = $1 AND key = ANY($2)`, [STORE, keys]);
    return rows[0].n;
  } finally {
    await pg.end();
  }
}

describe('Dapr state TTL', () => {
  describe('expiry on read (purge job far away)', () => {
    let cluster: TestCluster;
    let client: DaprClient;
    let api: ReturnType<typeof http>;

    beforeAll(async () => {
      cluster = await startCluster(1);
      client = sdkClient(cluster);
      api = http(cluster.url, cluster.ownerToken);
    });
    afterAll(async () => {
      await client?.stop();
      await cluster?.close();
    });

    it('hides a value once its TTL passes, from get, bulk and query, and reports ttlExpireTime until then', async () => {
      const before = Date.now();
      // TTL from the query string (SDK save options) and from item metadata.
      expect(await client.state.save(STORE, [{ key: 'ttl-q', value: { kind: 'ttl' } }], { metadata: { ttlInSeconds: '1' } })).toEqual({});
      expect(await client.state.save(STORE, [{ key: 'ttl-item', value: { kind: 'ttl' }, metadata: { ttlInSeconds: '1' } }])).toEqual({});
      // A transaction upsert may carry one too.
      await client.state.transaction(STORE, [{ operation: 'upsert', request: { key: 'ttl-tx', value: { kind: 'ttl' }, metadata: { ttlInSeconds: '1' } } }]);
      // -1 removes a TTL; an upsert without one clears it too (as Dapr's PostgreSQL store does).
      await client.state.save(STORE, [
        { key: 'ttl-removed', value: { kind: 'kept' }, metadata: { ttlInSeconds: '1' } },
        { key: 'ttl-overwritten', value: { kind: 'kept' }, metadata: { ttlInSeconds: '1' } },
        { key: 'ttl-none', value: { kind: 'kept' } },
      ]);
      await client.state.save(STORE, [
        { key: 'ttl-removed', value: { kind: 'kept' }, metadata: { ttlInSeconds: '-1' } },
        { key: 'ttl-overwritten', value: { kind: 'kept' } },
      ]);
      const staleEtag = (await api.get(`/v1.0/state/${STORE}/ttl-q`)).headers.get('etag')!;

      const live = await api.get(`/v1.0/state/${STORE}/ttl-q`);
      expect(live.status).toBe(200);
      const expireTime = live.headers.get('metadata.ttlExpireTime');
      expect(expireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const expireMs = Date.parse(expireTime!);
      expect(expireMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(expireMs).toBeLessThanOrEqual(Date.now() + 1_000);
      expect((await api.get(`/v1.0/state/${STORE}/ttl-none`)).headers.get('metadata.ttlExpireTime')).toBeNull();
      expect((await api.get(`/v1.0/state/${STORE}/ttl-removed`)).headers.get('metadata.ttlExpireTime')).toBeNull();

      const bulk = (await client.state.getBulk(STORE, ['ttl-item', 'ttl-none'])) as unknown as Record<string, any>[];
      expect(bulk[0].metadata).toEqual({ ttlExpireTime: expect.stringMatching(/Z$/) });
      expect(bulk[1].metadata).toBeUndefined();
      const queried = await client.state.query(STORE, { filter: { EQ: { kind: 'ttl' } }, sort: [], page: { limit: 10 } });
      expect(queried.results.map((r) => r.key).sort()).toEqual(['ttl-item', 'ttl-q', 'ttl-tx']);
      expect((queried.results[0] as any).metadata.ttlExpireTime).toMatch(/Z$/);

      await sleep(1_500);

      const expired = ['ttl-q', 'ttl-item', 'ttl-tx'];
      for (const key of expired) {
        expect((await api.get(`/v1.0/state/${STORE}/${key}`)).status).toBe(204);
        expect(await client.state.get(STORE, key)).toBe('');
      }
      expect(await client.state.getBulk(STORE, expired)).toEqual(expired.map((key) => ({ key })));
      expect((await api.post(`/v1.0-alpha1/state/${STORE}/query`, { filter: { EQ: { kind: 'ttl' } } })).status).toBe(204);
      for (const key of ['ttl-removed', 'ttl-overwritten', 'ttl-none']) {
        expect(await client.state.get(STORE, key)).toEqual({ kind: 'kept' });
      }
      // Hidden by the reads themselves: the rows are still in the table (the purge runs once a minute here).
      expect(await rowCount(cluster.databaseUrl, expired)).toBe(3);

      // An expired key counts as absent for writes too.
      expect((await api.post(`/v1.0/state/${STORE}`, [{ key: 'ttl-q', value: 'again', etag: staleEtag }])).status).toBe(409);
      expect((await api.delete(`/v1.0/state/${STORE}/ttl-item`, { 'if-match': '12345' })).status).toBe(409);
      expect((await api.post(`/v1.0/state/${STORE}`, [{ key: 'ttl-q', value: 'again', options: { concurrency: 'first-write' } }])).status).toBe(204);
      const reborn = await api.get(`/v1.0/state/${STORE}/ttl-q`);
      expect(reborn.body).toBe('again');
      expect(reborn.headers.get('metadata.ttlExpireTime')).toBeNull();
    });

    it('refuses a malformed ttlInSeconds with 400 ERR_MALFORMED_REQUEST', async () => {
      for (const ttl of ['soon', '-5', '1.5']) {
        const res = await api.post(`/v1.0/state/${STORE}?metadata.ttlInSeconds=${ttl}`, [{ key: 'ttl-bad', value: 1 }]);
        expect(res.status).toBe(400);
        expect(res.body.errorCode).toBe('ERR_MALFORMED_REQUEST');
      }
    });
  });

  describe('purge job', () => {
    let cluster: TestCluster;

    beforeAll(async () => {
      cluster = await startCluster(1, { STATE_TTL_PURGE_INTERVAL_MS: '200' });
    });
    afterAll(async () => {
      await cluster?.close();
    });

    it('runs on one fixed BullMQ job scheduler and deletes expired rows, leaving the others', async () => {
      const api = http(cluster.url, cluster.ownerToken);
      expect((await api.post(`/v1.0/state/${STORE}?metadata.ttlInSeconds=1`, [{ key: 'p1', value: 1 }, { key: 'p2', value: 2 }])).status).toBe(204);
      expect((await api.post(`/v1.0/state/${STORE}`, [{ key: 'p-keep', value: 3 }])).status).toBe(204);
      expect(await rowCount(cluster.databaseUrl, ['p1', 'p2', 'p-keep'])).toBe(3);

      // A second instance upserts the same scheduler id: still one schedule.
      const second = await cluster.addInstance();
      const queue = new Queue('state-ttl', { connection: { url: cluster.env.REDIS_URL }, prefix: `${cluster.redisPrefix}:bull` });
      try {
        let schedulers: { key: string; every?: number | null }[] = [];
        for (let i = 0; i < 50 && schedulers.length === 0; i++) {
          schedulers = (await queue.getJobSchedulers()) as typeof schedulers;
          if (schedulers.length === 0) await sleep(50);
        }
        expect(schedulers).toHaveLength(1);
        expect(schedulers[0]).toMatchObject({ key: 'state-ttl-purge', every: 200 });

        let remaining = 3;
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline) {
          remaining = await rowCount(cluster.databaseUrl, ['p1', 'p2']);
          if (remaining === 0) break;
          await sleep(100);
        }
        expect(remaining).toBe(0);
        expect(await rowCount(cluster.databaseUrl, ['p-keep'])).toBe(1);
      } finally {
        await queue.close();
        await cluster.stopInstance(second);
      }
    });
  });
});
