import { Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { CallBatcher } from '../database/call-batcher';
import { PgPool } from '../database/pg-pool';
import { compileStateQuery } from './state-query.compiler';
import { StateQuery } from './state-query.parser';
import { StateStore } from './state-store';
import { StateEntry, StateWrite, WriteResult } from './state.types';

/*
 * Every statement treats a row whose expires_at has passed as absent, so correctness never waits
 * for the purge job. Time is the database's now(): one clock for every instance.
 */
const LIVE = '(expires_at IS NULL OR expires_at > now())';
/** A NULL ttl gives a NULL expiry: the value never expires. */
const EXPIRES = `now() + $4::int * interval '1 second'`;

/** Advisory lock class of state keys ('St'). */
const ADVISORY_CLASS = 0x5374;

const SQL = {
  get: `SELECT value::text AS json, etag::text AS etag, expires_at FROM state_entries WHERE store = $1 AND key = $2 AND ${LIVE}`,
  getMany: `SELECT key, value, etag::text AS etag, expires_at FROM state_entries WHERE store = $1 AND key = ANY($2::text[]) AND ${LIVE}`,
  // Concurrent gets, each by its place in the arrays (1-based); a key not found has no row.
  getEach: `SELECT q.i::int AS i, e.value::text AS json, e.etag::text AS etag, e.expires_at
    FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(store, key, i)
    JOIN state_entries e ON e.store = q.store AND e.key = q.key AND (e.expires_at IS NULL OR e.expires_at > now())`,
  // last-write without an etag: always wins. EXCLUDED.etag is the fresh nextval() of the attempted insert.
  upsert: `INSERT INTO state_entries AS s (store, key, value, expires_at) VALUES ($1, $2, $3::jsonb, ${EXPIRES})
    ON CONFLICT (store, key) DO UPDATE SET value = EXCLUDED.value, etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at, updated_at = now()
    RETURNING etag::text AS etag`,
  // The same for several keys at once (concurrent saves, one of each key: one statement, one commit).
  upsertMany: `INSERT INTO state_entries AS s (store, key, value, expires_at)
    SELECT w.store, w.key, w.value::jsonb, now() + w.ttl * interval '1 second'
      FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS w(store, key, value, ttl)
    ON CONFLICT (store, key) DO UPDATE SET value = EXCLUDED.value, etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at, updated_at = now()`,
  // first-write without an etag: only if the key is absent (an expired row counts as absent).
  insert: `INSERT INTO state_entries AS s (store, key, value, expires_at) VALUES ($1, $2, $3::jsonb, ${EXPIRES})
    ON CONFLICT (store, key) DO UPDATE SET value = EXCLUDED.value, etag = EXCLUDED.etag, expires_at = EXCLUDED.expires_at, updated_at = now()
    WHERE s.expires_at IS NOT NULL AND s.expires_at <= now()
    RETURNING etag::text AS etag`,
  // With an etag (either mode): only the live row carrying it. Concurrent writers with the same etag
  // serialise on the row lock and the losers re-check the etag against the new version: one wins.
  updateIfEtag: `UPDATE state_entries SET value = $3::jsonb, etag = nextval('state_etag_seq'), expires_at = ${EXPIRES}, updated_at = now()
    WHERE store = $1 AND key = $2 AND etag::text = $5 AND ${LIVE}
    RETURNING etag::text AS etag`,
  delete: `DELETE FROM state_entries WHERE store = $1 AND key = $2`,
  deleteIfEtag: `DELETE FROM state_entries WHERE store = $1 AND key = $2 AND etag::text = $3 AND ${LIVE} RETURNING 1 AS ok`,
  // Multi-key writes first take one transaction lock per key in a global order (the hash), so two
  // transactions over the same keys in different orders queue instead of deadlocking. The two-int
  // form keeps these keys apart from every single-bigint advisory lock in the database.
  lockKeys: `SELECT count(pg_advisory_xact_lock(${ADVISORY_CLASS}, h)) AS n
    FROM (SELECT DISTINCT hashtext($1 || chr(31) || k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS keys`,
  // SKIP LOCKED: the purge never waits on (or blocks) a writer touching the same rows.
  purge: `WITH doomed AS (
      SELECT store, key FROM state_entries WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
    ), gone AS (
      DELETE FROM state_entries s USING doomed d WHERE s.store = d.store AND s.key = d.key AND s.expires_at <= now() RETURNING 1
    ) SELECT count(*)::int AS n FROM gone`,
} as const;

/** deadlock_detected, serialization_failure */
const RETRYABLE = new Set(['40P01', '40001']);

type Exec = (name: string, text: string, values: unknown[]) => Promise<Record<string, unknown>[]>;

interface EntryRow {
  key: string;
  value: unknown;
  etag: string;
  expires_at: Date | null;
}

function toEntry(row: EntryRow): StateEntry {
  return { key: row.key, value: row.value, etag: row.etag, expiresAt: row.expires_at };
}

type Found = { json: string; etag: string; expiresAt: Date | null } | null;

/** A state key as a batch key: its store and key, apart. */
const batchKey = (store: string, key: string) => `${store}\u001f${key}`;

/**
 * Dapr state in PostgreSQL. A get and a plain save (no etag, last write wins), the calls a
 * client makes most, go through CallBatchers: those that arrive together share one statement,
 * and the saves one commit. Every other write is its own statement or transaction.
 */
@Injectable()
export class PostgresStateStore extends StateStore {
  readonly reads: CallBatcher<Found>;
  readonly saves: CallBatcher<WriteResult>;

  constructor(
    private readonly pg: PgPool,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() config?: AppConfig,
  ) {
    super();
    const maxInFlight = config?.DATABASE_BATCH_LANES;
    this.reads = new CallBatcher<Found>(async (ops) => {
      const rows = await this.pg.query<{ i: number; json: string; etag: string; expires_at: Date | null }>('state_get_each', SQL.getEach, [
        ops.map((o) => o.store),
        ops.map((o) => o.key),
      ]);
      const found: Found[] = ops.map(() => null);
      for (const r of rows) found[r.i - 1] = { json: r.json, etag: r.etag, expiresAt: r.expires_at };
      return found;
    }, { maxInFlight });
    // One of each key per statement: an upsert cannot change one row twice.
    this.saves = new CallBatcher<WriteResult>(async (ops) => {
      const values = ops.map((o) => JSON.stringify(o.value));
      await this.pg.query('state_upsert_many', SQL.upsertMany, [ops.map((o) => o.store), ops.map((o) => o.key), values, ops.map((o) => o.ttlSeconds)]);
      return ops.map(() => ({ ok: true }));
    }, { maxInFlight, onePerKey: true });
  }

  get(store: string, key: string): Promise<Found> {
    return this.reads.run({ key: batchKey(store, key), operation: { store, key }, alone: () => this.getAlone(store, key) });
  }

  private async getAlone(store: string, key: string): Promise<Found> {
    const rows = await this.pg.query<{ json: string; etag: string; expires_at: Date | null }>('state_get', SQL.get, [store, key]);
    const row = rows[0];
    return row ? { json: row.json, etag: row.etag, expiresAt: row.expires_at } : null;
  }

  async getMany(store: string, keys: string[]): Promise<StateEntry[]> {
    if (keys.length === 0) return [];
    const rows = await this.pg.query<EntryRow>('state_get_many', SQL.getMany, [store, [...new Set(keys)]]);
    return rows.map(toEntry);
  }

  async write(store: string, writes: StateWrite[]): Promise<WriteResult> {
    if (writes.length === 0) return { ok: true };
    // One statement is atomic by itself: the common single write skips BEGIN/COMMIT round trips.
    if (writes.length === 1) {
      const [w] = writes;
      const exec: Exec = (name, text, values) => this.pg.query(name, text, values);
      const alone = () => this.apply(exec, store, w, 0);
      if (w.kind !== 'upsert' || w.etag !== null || w.concurrency === 'first-write') return alone();
      // The value is serialized where it is sent (here by the batch, alone by apply): once either way.
      const operation = { store, key: w.key, value: w.value, ttlSeconds: w.ttlSeconds };
      return this.saves.run({ key: batchKey(store, w.key), operation, alone });
    }
    // Ordered key locks prevent deadlocks between our own writers; should one still happen (or a
    // serialisation failure), everything was rolled back, so running it again is safe.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeInTransaction(store, writes);
      } catch (err) {
        if (attempt >= 3 || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
      }
    }
  }

  private async writeInTransaction(store: string, writes: StateWrite[]): Promise<WriteResult> {
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    const exec: Exec = async (name, text, values) => (await client.query({ name, text, values })).rows;
    try {
      await runner.startTransaction();
      await exec('state_lock_keys', SQL.lockKeys, [store, writes.map((w) => w.key)]);
      for (let i = 0; i < writes.length; i++) {
        const result = await this.apply(exec, store, writes[i], i);
        if (!result.ok) {
          await runner.rollbackTransaction();
          return result;
        }
      }
      await runner.commitTransaction();
      return { ok: true };
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw err;
    } finally {
      await runner.release();
    }
  }

  private async apply(exec: Exec, store: string, w: StateWrite, index: number): Promise<WriteResult> {
    const conflict = (reason: string): WriteResult => ({ ok: false, index, key: w.key, reason });
    if (w.kind === 'delete') {
      if (w.etag === null) {
        await exec('state_delete', SQL.delete, [store, w.key]);
        return { ok: true };
      }
      const rows = await exec('state_delete_if_etag', SQL.deleteIfEtag, [store, w.key, w.etag]);
      return rows.length === 1 ? { ok: true } : conflict(`etag mismatch for key ${w.key}`);
    }
    const base = [store, w.key, JSON.stringify(w.value), w.ttlSeconds];
    if (w.etag !== null) {
      const rows = await exec('state_update_if_etag', SQL.updateIfEtag, [...base, w.etag]);
      return rows.length === 1 ? { ok: true } : conflict(`etag mismatch for key ${w.key}`);
    }
    if (w.concurrency === 'first-write') {
      const rows = await exec('state_insert', SQL.insert, base);
      return rows.length === 1 ? { ok: true } : conflict(`first-write: key ${w.key} already exists`);
    }
    await exec('state_upsert', SQL.upsert, base);
    return { ok: true };
  }

  async query(store: string, query: StateQuery, fetch: number): Promise<StateEntry[]> {
    // The text varies with the filter's shape, so it is not a named statement (that would grow a cache per connection).
    const { text, values } = compileStateQuery(store, query, fetch);
    const rows: EntryRow[] = await this.dataSource.query(text, values);
    return rows.map(toEntry);
  }

  async purgeExpired(batchSize: number): Promise<number> {
    let total = 0;
    for (;;) {
      const [row] = await this.pg.query<{ n: number }>('state_purge', SQL.purge, [batchSize]);
      total += row?.n ?? 0;
      if ((row?.n ?? 0) < batchSize) return total;
    }
  }
}
