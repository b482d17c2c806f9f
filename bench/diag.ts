import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { closedLoop, LoadOptions, LoadResult } from './runner';

const OWNER_ID = '00000000-0000-4000-8000-000000000000';

/**
 * Diagnostics: the same uncontended cycle as the service's, but calling the two SQL functions
 * directly (one pg connection per client, named prepared statements, like the service's PgPool).
 * This is the floor the database sets; the gap to the service's rate is the service's own cost.
 */
export async function pgDirectUncontended(databaseUrl: string, opts: LoadOptions, tag: string): Promise<LoadResult> {
  const clients = await Promise.all(
    Array.from({ length: opts.clients }, async () => {
      const c = new Client({ connectionString: databaseUrl, application_name: 'qm-bench-direct' });
      // The bench database may be dropped (WITH FORCE) before these are closed.
      c.on('error', () => undefined);
      await c.connect();
      return c;
    }),
  );
  // Closed a little later, so that the caller's CPU accounting still sees these backends.
  const closeLater = () => setTimeout(() => void Promise.all(clients.map((c) => c.end().catch(() => undefined))), 3_000);
  try {
    return await closedLoop('PostgreSQL direct: mutex_queue_ticket + mutex_release_ticket', opts, async (i) => {
      const c = clients[i];
      const resource = `${tag}-pgdirect-${i}`;
      const r = await c.query({
        name: 'enq',
        // p_wait: a lock's first ticket creates it under its repository's lock, which the other
        // clients' first tickets hold too; waiting for it is what the service does on a 'retry'.
        text: 'SELECT mutex_queue_ticket($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, p_wait => true) AS r',
        values: ['bench-org/pgdirect', resource, randomUUID(), OWNER_ID, 'owner-token', null, 'sfp', null, 60, null, null, false],
      });
      const ticket = r.rows[0].r.ticket;
      if (!ticket) throw new Error(`pg direct: ${JSON.stringify(r.rows[0].r)}`);
      if (ticket.status !== 'acquired') throw new Error(`pg direct: ${ticket.status}`);
      await c.query({
        name: 'rel',
        text: 'SELECT mutex_release_ticket($1, $2, $3, $4, $5) AS r',
        values: [ticket.id, 'bench-org/pgdirect', resource, OWNER_ID, 'owner-token'],
      });
    });
  } finally {
    closeLater();
  }
}

/** sha1 of every BullMQ Lua script → its name, to label EVALSHA calls seen by MONITOR. */
function bullmqScriptNames(): Map<string, string> {
  const names = new Map<string, string>();
  try {
    const fs = require('node:fs') as typeof import('node:fs');
    const path = require('node:path') as typeof import('node:path');
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    const dir = path.join(path.dirname(require.resolve('bullmq', { paths: [path.resolve(__dirname, '..')] })), 'scripts');
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.js') || f === 'index.js') continue;
      const mod = require(path.join(dir, f));
      for (const v of Object.values(mod) as { name?: string; content?: string }[]) {
        if (v && typeof v.content === 'string') names.set(createHash('sha1').update(v.content).digest('hex'), v.name ?? f);
      }
    }
  } catch {
    /* labels are a nicety */
  }
  return names;
}

export interface RedisTraffic {
  cycles: number;
  /** Commands sent by the service's connections (round trips, unless pipelined). */
  total: number;
  /** Commands executed inside Lua scripts (BullMQ) on the service's keys. */
  inScripts: number;
  /** [command label, count] sorted by count. */
  commands: [string, number][];
}

/**
 * Runs `work` with Redis MONITOR on and counts the commands that touch the service's prefix
 * (BullMQ scripts labelled by name). MONITOR slows Redis down: diagnostics only.
 */
export async function redisTraffic(redisUrl: string, prefix: string, work: () => Promise<LoadResult>): Promise<{ result: LoadResult; traffic: RedisTraffic }> {
  const Redis = require('ioredis') as typeof import('ioredis').default;
  const names = bullmqScriptNames();
  const conn = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  await conn.connect();
  const monitor = await conn.monitor();
  const counts = new Map<string, number>();
  let counting = true;
  let inScripts = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (!counting || !args.some((a) => typeof a === 'string' && a.includes(prefix))) return;
    // Commands run inside a Lua script are reported with source "lua": not round trips.
    if (source === 'lua') {
      inScripts++;
      return;
    }
    let label = String(args[0]).toLowerCase();
    if (label === 'evalsha') label = `evalsha ${names.get(String(args[1])) ?? String(args[1]).slice(0, 8)}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  });
  try {
    const result = await work();
    counting = false;
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    return { result, traffic: { cycles: result.totalCycles, total, inScripts, commands: [...counts.entries()].sort((a, b) => b[1] - a[1]) } };
  } finally {
    monitor.disconnect();
    conn.disconnect();
  }
}

export interface PgFunctionStat {
  name: string;
  calls: number;
  selfMs: number;
  totalMs: number;
}

/** pg_stat_user_functions of the bench database (needs track_functions = 'pl'). */
export async function pgFunctionStats(databaseUrl: string): Promise<{ commits: number; functions: Map<string, PgFunctionStat> }> {
  const c = new Client({ connectionString: databaseUrl, application_name: 'qm-bench-stats' });
  await c.connect();
  try {
    const f = await c.query('SELECT funcname, calls::bigint AS calls, self_time, total_time FROM pg_stat_user_functions');
    const d = await c.query('SELECT xact_commit::bigint AS commits FROM pg_stat_database WHERE datname = current_database()');
    const functions = new Map<string, PgFunctionStat>();
    for (const r of f.rows) functions.set(r.funcname, { name: r.funcname, calls: Number(r.calls), selfMs: Number(r.self_time), totalMs: Number(r.total_time) });
    return { commits: Number(d.rows[0]?.commits ?? 0), functions };
  } finally {
    await c.end();
  }
}

export function diffFunctionStats(
  a: Awaited<ReturnType<typeof pgFunctionStats>>,
  b: Awaited<ReturnType<typeof pgFunctionStats>>,
): { commits: number; functions: PgFunctionStat[] } {
  const out: PgFunctionStat[] = [];
  for (const [name, s] of b.functions) {
    const p = a.functions.get(name) ?? { calls: 0, selfMs: 0, totalMs: 0 };
    const calls = s.calls - p.calls;
    if (calls > 0) out.push({ name, calls, selfMs: s.selfMs - p.selfMs, totalMs: s.totalMs - p.totalMs });
  }
  return { commits: b.commits - a.commits, functions: out.sort((x, y) => y.totalMs - x.totalMs) };
}
