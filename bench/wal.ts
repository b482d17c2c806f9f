import { Client } from 'pg';

/** What PostgreSQL wrote to its WAL during a run of cycles. */
export interface WalPerCycle {
  cycles: number;
  bytesPerCycle: number;
  /** NaN when pg_walinspect is not available. */
  recordsPerCycle: number;
  /** Per resource manager / record type, per cycle, most records first (pg_walinspect). */
  byType: { type: string; records: number; bytes: number }[];
  note: string;
}

/**
 * Runs `run` (which makes `cycles` cycles) and reads the WAL written meanwhile: bytes from the
 * insert position, records from pg_walinspect (created in the bench's own database). A checkpoint
 * and then `warmUp` come first, so that the pages the cycles write have had their one full-page
 * image since the checkpoint already (a steady state, not the first touch). The WAL is the whole
 * cluster's: run it with nothing else on the server.
 */
export async function walPerCycle(databaseUrl: string, cycles: number, warmUp: () => Promise<void>, run: () => Promise<void>): Promise<WalPerCycle> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    const inspect = await pg
      .query('CREATE EXTENSION IF NOT EXISTS pg_walinspect')
      .then(() => true)
      .catch(() => false);
    await pg.query('CHECKPOINT').catch(() => undefined); // (needs a superuser; without, FPIs may count)
    await warmUp();
    const lsn = async () => (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn;
    const start = await lsn();
    await run();
    const end = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0].lsn;
    const bytes = Number((await pg.query<{ d: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS d', [end, start])).rows[0].d);
    let records = NaN;
    let byType: WalPerCycle['byType'] = [];
    if (inspect) {
      const rows = (
        await pg.query<{ type: string; n: string; b: string }>(
          `SELECT "resource_manager/record_type" AS type, count::text AS n, combined_size::text AS b
             FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn, true) WHERE count > 0 ORDER BY count DESC`,
          [start, end],
        )
      ).rows;
      records = rows.reduce((a, r) => a + Number(r.n), 0) / cycles;
      byType = rows.map((r) => ({ type: r.type, records: Number(r.n) / cycles, bytes: Number(r.b) / cycles }));
    }
    return {
      cycles,
      bytesPerCycle: bytes / cycles,
      recordsPerCycle: records,
      byType,
      note: inspect ? 'pg_walinspect over the run' : 'bytes only: pg_walinspect is not available',
    };
  } finally {
    await pg.end();
  }
}
