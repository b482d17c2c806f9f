import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QueryRunner } from 'typeorm';

/** The folders of `.sql` function files, applied in this order, each in file-name order. */
export const SQL_FUNCTION_DIRS = [join(__dirname, '..', 'mutex', 'sql')];

export interface SqlFunctionFile {
  /** Its name inside its folder, the key of its row in `sql_functions`. */
  name: string;
  sql: string;
  sha256: string;
}

export function readSqlFunctionFiles(dirs = SQL_FUNCTION_DIRS): SqlFunctionFile[] {
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((name) => {
        const sql = readFileSync(join(dir, name), 'utf8');
        return { name, sql, sha256: createHash('sha256').update(sql).digest('hex') };
      }),
  );
}

interface AppliedRow {
  file: string;
  sha256: string;
  functions: string[];
}

/** Every function of the current schema with the version of its catalog row (ctid moves on every CREATE OR REPLACE). */
const FUNCTION_VERSIONS = `
  SELECT p.oid::regprocedure::text AS signature, p.ctid::text AS version
    FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace`;

/**
 * PostgreSQL functions are source code kept in `.sql` files (CREATE OR REPLACE, one file per
 * family), not strings in migrations. At start, after the migrations and under their advisory
 * lock, every file whose content changed since it was last applied is applied again, all in one
 * transaction, so instances starting together apply it once and a failure leaves the old
 * functions in place. A changed file's previous functions are dropped first, so a function it no
 * longer defines, or whose arguments changed, does not linger; a file that was removed takes its
 * functions with it. Which functions a file defined is read from the catalog: the functions
 * created or replaced while it ran.
 *
 * Returns the names of the files applied (empty when nothing changed).
 */
export async function applySqlFunctionFiles(q: QueryRunner, files = readSqlFunctionFiles()): Promise<string[]> {
  const applied = new Map<string, AppliedRow>(
    ((await q.query(`SELECT file, sha256, functions FROM sql_functions`)) as AppliedRow[]).map((r) => [r.file, r]),
  );
  const changed = files.filter((f) => applied.get(f.name)?.sha256 !== f.sha256);
  const names = new Set(files.map((f) => f.name));
  const removed = [...applied.values()].filter((r) => !names.has(r.file));
  if (changed.length === 0 && removed.length === 0) return [];

  await q.startTransaction();
  try {
    for (const old of [...removed, ...changed.map((f) => applied.get(f.name)).filter((r): r is AppliedRow => r !== undefined)]) {
      for (const signature of old.functions) await q.query(`DROP FUNCTION IF EXISTS ${signature}`);
    }
    for (const file of changed) {
      const before = new Map<string, string>(((await q.query(FUNCTION_VERSIONS)) as { signature: string; version: string }[]).map((r) => [r.signature, r.version]));
      try {
        await q.query(file.sql);
      } catch (err) {
        throw new Error(`SQL function file ${file.name} failed: ${(err as Error).message}`);
      }
      const defined = ((await q.query(FUNCTION_VERSIONS)) as { signature: string; version: string }[])
        .filter((r) => before.get(r.signature) !== r.version)
        .map((r) => r.signature);
      await q.query(
        `INSERT INTO sql_functions (file, sha256, functions, applied_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (file) DO UPDATE SET sha256 = EXCLUDED.sha256, functions = EXCLUDED.functions, applied_at = EXCLUDED.applied_at`,
        [file.name, file.sha256, defined],
      );
    }
    if (removed.length > 0) await q.query(`DELETE FROM sql_functions WHERE file = ANY($1)`, [removed.map((r) => r.file)]);
    await q.commitTransaction();
  } catch (err) {
    await q.rollbackTransaction();
    throw err;
  }
  return changed.map((f) => f.name);
}
