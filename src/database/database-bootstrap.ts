import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { applySqlFunctionFiles } from './sql-function-files';

/** Arbitrary constant: the key of the advisory lock that serialises migrations across instances. */
const MIGRATION_LOCK_KEY = 7_302_119_001;

/** A connection attempt that hangs (a dropped route, a firewall) fails after this long instead of for ever. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Errors that mean "PostgreSQL is not there yet" (network, DNS, a server starting up or full),
 * worth waiting out at start; anything else (a wrong password, say) will not fix itself.
 */
export function isTransientConnectError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (['57P03', '53300', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(e.code ?? '')) return true;
  return /timeout|terminated unexpectedly|Connection terminated/i.test(e.message ?? '');
}

/**
 * Waits until PostgreSQL answers (and its database exists), saying so on every attempt: a
 * service started before its database, or during an outage, waits and then starts by itself.
 * Gives up at once on an error that waiting cannot fix.
 */
export async function waitForDatabase(databaseUrl: string, warn: (message: string) => void, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<void> {
  const where = describeUrl(databaseUrl);
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureDatabase(databaseUrl);
      if (attempt > 1) warn(`PostgreSQL at ${where} answers after ${attempt} attempts: starting`);
      return;
    } catch (err) {
      if (!isTransientConnectError(err)) throw new Error(`PostgreSQL at ${where} refused to start the service: ${(err as Error).message}`);
      const pause = Math.min(500 * attempt, 5_000);
      warn(`PostgreSQL at ${where} is unreachable (${(err as Error).message || (err as { code?: string }).code}); attempt ${attempt}, retrying in ${pause / 1000} s`);
      await sleep(pause);
    }
  }
}

/** host:port/database of a URL, without its credentials. */
function describeUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${decodeURIComponent(url.host) || 'local socket'}${url.pathname}`;
}

/** Creates the database named in the URL when it does not exist yet (several instances may race here). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  const probe = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await probe.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // anything but "database does not exist"
  } finally {
    await probe.end().catch(() => undefined);
  }
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString(), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } catch (err) {
    // 42P04: created meanwhile by another instance; 23505: the same race seen through the catalog index.
    const code = (err as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw err;
  } finally {
    await admin.end();
  }
}

/**
 * Runs pending migrations, then applies the SQL function files that changed, while holding a
 * session advisory lock, so concurrent starts apply each once. Returns what it applied.
 */
export async function migrateUnderLock(dataSource: DataSource): Promise<{ migrations: string[]; functionFiles: string[] }> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const migrations = await dataSource.runMigrations({ transaction: 'each' });
      const functionFiles = await applySqlFunctionFiles(runner);
      return { migrations: migrations.map((m) => m.name), functionFiles };
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}
