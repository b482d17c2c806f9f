import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS } from '../migrations';
import { http, startCluster, TestCluster } from './support/test-app';

/**
 * A database made by the last version before the schema baseline (see the fixture's header),
 * started with this code: the baseline takes the place of the old migrations, the old functions
 * make way for src/mutex/sql, and every ticket, key and state entry is kept and keeps working.
 */

const FIXTURE = readFileSync(join(__dirname, 'fixtures', 'pre-baseline-database.sql'), 'utf8');
const LEGACY_KEY = 'mtx_legacykey_0123456789abcdef0123456789abcdef';
const ticket = (n: number) => `aaaaaaaa-0000-4000-8000-00000000000${n}`;
const UAT = '/sfp/api/locks/legacy%2Fapp/uat';

async function withClient<T>(databaseUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Tables, columns, indexes, constraints, types and our functions, as comparable text. */
async function schemaOf(databaseUrl: string): Promise<Record<string, string[]>> {
  return withClient(databaseUrl, async (c) => {
    const list = async (sql: string) => (await c.query<{ x: string }>(sql)).rows.map((r) => r.x);
    return {
      columns: await list(`
        SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(domain_name, '') || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS x
          FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`),
      indexes: await list(`SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
      constraints: await list(`
        SELECT coalesce(nullif(conrelid, 0)::regclass::text, contypid::regtype::text) || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
      enums: await list(`
        SELECT t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY 1`),
      functions: await list(`
        SELECT p.oid::regprocedure::text AS x FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
         ORDER BY 1`),
    };
  });
}

let upgraded: TestCluster;
let fresh: TestCluster;

beforeAll(async () => {
  upgraded = await startCluster(1, {}, {
    prepareDatabase: (url) =>
      withClient(url, async (c) => {
        await c.query(FIXTURE);
        // Released when the fixture was made: bring it inside the retention window, or the purge takes it.
        await c.query(`UPDATE public.tickets SET released_at = now() WHERE status = 'released'`);
      }),
  });
  fresh = await startCluster(1);
});

afterAll(async () => {
  await upgraded?.close();
  await fresh?.close();
});

describe('a database made before the schema baseline, started with this code', () => {
  it('records the baseline in place of the old migrations', async () => {
    const rows = await withClient(upgraded.databaseUrl, (c) => c.query<{ name: string }>(`SELECT name FROM migrations ORDER BY id`));
    expect(rows.rows.map((r) => r.name)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(rows.rows[0].name).toBe('Baseline1764000000000');
  });

  it('ends with the same schema and functions as a new database, and none of the old functions', async () => {
    const [a, b] = await Promise.all([schemaOf(upgraded.databaseUrl), schemaOf(fresh.databaseUrl)]);
    expect(a).toEqual(b);
    // One version of each function: an old signature does not linger beside its successor.
    expect(a.functions.filter((f) => f.startsWith('mutex_queue_ticket('))).toHaveLength(1);
    for (const old of ['mutex_enqueue', 'mutex_status', 'mutex_check', 'mutex_unlock_owner', 'mutex_event', 'mutex_position']) {
      expect(a.functions.filter((f) => f.startsWith(`${old}(`))).toEqual([]);
    }
  });

  it('keeps its key, tickets and queue order, and its locks keep working', async () => {
    const api = http(upgraded.url, LEGACY_KEY);
    // The key made before the upgrade still works, with its repository limits.
    expect((await api.get('/sfp/api/users/me')).body).toMatchObject({ name: 'legacy-pipeline', role: 'application' });
    expect((await api.get('/sfp/api/locks/other%2Frepo/x')).status).toBe(403);

    const list = await api.get(UAT);
    expect(list.status).toBe(200);
    expect(list.body.map((t: any) => [t.id, t.status, t.queuePosition, t.fencingToken])).toEqual([
      [ticket(1), 'acquired', 0, 1],
      [ticket(2), 'queued', 1, null],
      [ticket(3), 'queued', 2, null],
    ]);
    // A released ticket still answers with how it ended.
    expect((await api.get(`/sfp/api/locks/legacy%2Fapp/staging/${ticket(4)}`)).body).toMatchObject({ status: 'released', releaseReason: 'released' });

    // The Idempotency-Key of a ticket queued before the upgrade still finds it.
    const replay = await api.post('/sfp/api/locks', { repository: 'legacy/app', resource: 'uat', leaseDurationSeconds: 600 }, { 'idempotency-key': 'idem-legacy-3' });
    expect([replay.status, replay.body.id, replay.headers.get('idempotent-replayed')]).toEqual([201, ticket(3), 'true']);

    // Releasing the old holder grants the next waiter in the same transaction, with the next token.
    expect((await api.delete(`${UAT}/${ticket(1)}`)).status).toBe(200);
    expect((await api.get(`${UAT}/${ticket(2)}`)).body).toMatchObject({ status: 'acquired', fencingToken: 2, queuePosition: 0 });
    expect((await api.get(`${UAT}/${ticket(3)}`)).body).toMatchObject({ status: 'queued', queuePosition: 1 });

    // New tickets queue behind the old ones.
    const fresh = await api.post('/sfp/api/locks', { repository: 'legacy/app', resource: 'uat', leaseDurationSeconds: 60 });
    expect(fresh.body).toMatchObject({ status: 'queued', queuePosition: 2 });

    // A Dapr lock held before the upgrade is released by its owner.
    const unlock = await api.post('/v1.0-alpha1/unlock/lockstore', { resourceId: 'orders', lockOwner: 'owner-1' });
    expect(unlock.body).toEqual({ status: 0 });
  });

  it('keeps its state entries', async () => {
    const owner = http(upgraded.url, upgraded.ownerToken);
    const got = await owner.get('/v1.0/state/statestore/legacy-key');
    expect([got.status, got.body]).toEqual([200, { v: 1 }]);
  });
});
