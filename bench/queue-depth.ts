/**
 * `npm run bench:depth`: how the lock functions behave with a deep queue. Fills one lock with
 * DEPTH waiters (default 10,000) on a fresh database, then times, over REPS repetitions each:
 * status of the first, middle and last waiter, a new enqueue at the tail, and a release that
 * promotes the head. Prints p50/p99 in ms; the numbers should not grow with DEPTH.
 */
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { ensureDatabase, migrateUnderLock } from '../src/database/database-bootstrap';
import { dataSourceOptions } from '../src/database/data-source-options';

const DEPTH = Number(process.env.DEPTH ?? 10_000);
const REPS = Number(process.env.REPS ?? 200);
const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ACTOR = '00000000-0000-4000-8000-000000000000';

function pct(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function timed(reps: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

async function main(): Promise<void> {
  const name = `qm_depth_${randomBytes(4).toString('hex')}`;
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  await ensureDatabase(url);
  const ds = new DataSource(dataSourceOptions(url, 2));
  await ds.initialize();
  await migrateUnderLock(ds);
  await ds.destroy();
  const pg = new Client({ connectionString: url });
  await pg.connect();
  try {
    const enqueue = (id: string) =>
      pg.query({ name: 'enq', text: `SELECT mutex_queue_ticket('depth', 'q', $1, $2, 'bench', NULL, 'sfp', NULL, 3600, NULL, NULL, false) AS r`, values: [id, ACTOR] });
    const status = (id: string) => pg.query({ name: 'st', text: `SELECT mutex_settle_ticket($1, 'depth', 'q') AS r`, values: [id] });
    const release = (id: string) => pg.query({ name: 'rel', text: `SELECT mutex_release_ticket($1, 'depth', 'q', $2, 'bench') AS r`, values: [id, ACTOR] });

    process.stdout.write(`filling one lock with ${DEPTH} waiters… `);
    await pg.query(
      `SELECT mutex_queue_ticket('depth', 'q', gen_random_uuid(), $1, 'bench', NULL, 'sfp', NULL, 3600, NULL, NULL, false) FROM generate_series(0, $2)`,
      [ACTOR, DEPTH],
    );
    await pg.query('ANALYZE tickets; ANALYZE locks');
    console.log('done');
    const ids = async (order: 'ASC' | 'DESC', offset: number) =>
      (await pg.query(`SELECT id FROM tickets WHERE status = 'queued' ORDER BY seq ${order} OFFSET $1 LIMIT 1`, [offset])).rows[0].id as string;
    const [first, middle, last] = [await ids('ASC', 0), await ids('ASC', Math.floor(DEPTH / 2)), await ids('DESC', 0)];

    const rows: Array<[string, number[]]> = [
      ['status of waiter #1', await timed(REPS, () => status(first))],
      [`status of waiter #${Math.floor(DEPTH / 2) + 1}`, await timed(REPS, () => status(middle))],
      [`status of the last waiter (~#${DEPTH})`, await timed(REPS, () => status(last))],
      ['enqueue at the tail', await timed(REPS, () => enqueue(randomUUID()))],
      [
        'release of the holder + promotion of the head',
        await timed(REPS, async () => {
          const holder = (await pg.query(`SELECT holder_id FROM locks WHERE repository = 'depth' AND resource = 'q'`)).rows[0].holder_id;
          await release(holder);
        }),
      ],
    ];
    console.log(`\n| operation, ${DEPTH.toLocaleString('en')} waiters deep | p50 ms | p99 ms |\n|---|---:|---:|`);
    for (const [label, s] of rows) console.log(`| ${label} | ${pct(s, 50).toFixed(2)} | ${pct(s, 99).toFixed(2)} |`);
    console.log('\n(the release row includes one extra SELECT to find the holder)');
  } finally {
    await pg.end();
    const admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
