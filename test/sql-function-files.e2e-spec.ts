import { createHash, randomBytes } from 'node:crypto';
import { DataSource, QueryRunner } from 'typeorm';
import { migrateUnderLock } from '../src/database/database-bootstrap';
import { dataSourceOptions } from '../src/database/data-source-options';
import { applySqlFunctionFiles, readSqlFunctionFiles, SqlFunctionFile } from '../src/database/sql-function-files';
import { createDatabase, dropDatabase } from './support/test-app';

const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const file = (name: string, sql: string): SqlFunctionFile => ({ name, sql, sha256: createHash('sha256').update(sql).digest('hex') });

const created: string[] = [];
async function freshDatabase(): Promise<string> {
  const name = `qm_test_fn_${process.pid}_${randomBytes(4).toString('hex')}`;
  await createDatabase(name);
  created.push(name);
  return PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
}

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

describe('SQL function files', () => {
  it('are applied once when several instances start at once on a new database', async () => {
    const url = await freshDatabase();
    const sources = Array.from({ length: 3 }, () => new DataSource(dataSourceOptions(url, 2)));
    await Promise.all(sources.map((s) => s.initialize()));
    try {
      const results = await Promise.all(sources.map((s) => migrateUnderLock(s)));
      const names = readSqlFunctionFiles().map((f) => f.name);
      expect(names.length).toBeGreaterThan(3);
      // One instance applied the migrations and every file; the others found nothing to do.
      expect(results.map((r) => r.functionFiles).sort((a, b) => b.length - a.length)).toEqual([names, [], []]);
      expect(results.filter((r) => r.migrations.length > 0)).toHaveLength(1);
      // And a restart applies nothing.
      expect(await migrateUnderLock(sources[0])).toEqual({ migrations: [], functionFiles: [] });
    } finally {
      await Promise.all(sources.map((s) => s.destroy()));
    }
  });

  describe('when they change', () => {
    let source: DataSource;
    let q: QueryRunner;
    const functions = async () =>
      (
        (await q.query(`SELECT p.oid::regprocedure::text AS f FROM pg_proc p WHERE p.proname LIKE 'qm_probe_%' ORDER BY 1`)) as { f: string }[]
      ).map((r) => r.f);
    const call = async (sql: string) => ((await q.query(`SELECT ${sql} AS v`)) as { v: unknown }[])[0].v;

    beforeAll(async () => {
      source = new DataSource(dataSourceOptions(await freshDatabase(), 2));
      await source.initialize();
      await source.runMigrations();
      q = source.createQueryRunner();
      await q.connect();
    });

    afterAll(async () => {
      await q?.release();
      await source?.destroy();
    });

    const A1 = file('10-a.sql', `
      CREATE OR REPLACE FUNCTION qm_probe_f(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$;
      CREATE OR REPLACE FUNCTION qm_probe_g() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'g' $$;`);
    const B1 = file('20-b.sql', `CREATE OR REPLACE FUNCTION qm_probe_h() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'h1'; END $$;`);

    it('applies new files in order and records what each defined', async () => {
      expect(await applySqlFunctionFiles(q, [A1, B1])).toEqual(['10-a.sql', '20-b.sql']);
      expect(await functions()).toEqual(['qm_probe_f(integer)', 'qm_probe_g()', 'qm_probe_h()']);
      const rows = await q.query(`SELECT file, sha256, functions FROM sql_functions ORDER BY file`);
      expect(rows).toEqual([
        { file: '10-a.sql', sha256: A1.sha256, functions: ['qm_probe_f(integer)', 'qm_probe_g()'] },
        { file: '20-b.sql', sha256: B1.sha256, functions: ['qm_probe_h()'] },
      ]);
    });

    it('applies nothing when no file changed', async () => {
      expect(await applySqlFunctionFiles(q, [A1, B1])).toEqual([]);
    });

    it('re-applies only a changed file; a function it no longer defines, or whose arguments changed, is dropped', async () => {
      const A2 = file('10-a.sql', `CREATE OR REPLACE FUNCTION qm_probe_f(x integer, y integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + y $$;`);
      expect(await applySqlFunctionFiles(q, [A2, B1])).toEqual(['10-a.sql']);
      expect(await functions()).toEqual(['qm_probe_f(integer,integer)', 'qm_probe_h()']);
      expect(await call('qm_probe_f(2, 3)')).toBe(5);
    });

    it('leaves every function as it was when a changed file fails (one transaction)', async () => {
      const A3 = file('10-a.sql', `CREATE OR REPLACE FUNCTION qm_probe_f(x integer, y integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x * y $$;`);
      const broken = file('20-b.sql', `CREATE OR REPLACE FUNCTION qm_probe_h() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'h2' END $$;`);
      await expect(applySqlFunctionFiles(q, [A3, broken])).rejects.toThrow(/SQL function file 20-b\.sql failed/);
      expect(await call('qm_probe_f(2, 3)')).toBe(5);
      expect(await call('qm_probe_h()')).toBe('h1');
      expect((await q.query(`SELECT sha256 FROM sql_functions WHERE file = '20-b.sql'`))[0].sha256).toBe(B1.sha256);
    });

    it('drops the functions of a file that was removed', async () => {
      const A2 = file('10-a.sql', `CREATE OR REPLACE FUNCTION qm_probe_f(x integer, y integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + y $$;`);
      expect(await applySqlFunctionFiles(q, [A2])).toEqual([]);
      expect(await functions()).toEqual(['qm_probe_f(integer,integer)']);
      expect((await q.query(`SELECT file FROM sql_functions`)).map((r: { file: string }) => r.file)).toEqual(['10-a.sql']);
    });
  });
});
