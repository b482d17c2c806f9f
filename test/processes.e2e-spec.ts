import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { TcpProxy } from './support/tcp-proxy';
import { deleteRedisPrefix, dropDatabase, http } from './support/test-app';

const ROOT = join(__dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<number | null>;
}

function startProcess(env: Record<string, string>, port: number): Proc {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (d) => output.push(String(d)));
  child.stderr!.on('data', (d) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, url: `http://127.0.0.1:${port}`, output, exited };
}

async function waitHealthy(p: Proc, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await http(p.url).get('/health')).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  throw new Error(`not healthy in time:\n${p.output.join('')}`);
}

/** Real OS processes, as production runs them: start race on an empty database, shared locks, SIGTERM. */
describe('several service processes on one database', () => {
  const id = randomBytes(4).toString('hex');
  const dbName = `qm_test_proc_${id}`;
  const prefix = `qm-test-proc-${id}`;
  const owner = `owner-${randomBytes(12).toString('hex')}`;
  const env = {
    DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${dbName}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    OWNER_TOKEN: owner,
    DATABASE_POOL_SIZE: '5',
    // Sweeps 3 s apart, so one that lands within ~0.5 s of a lease end was timed to it.
    SWEEP_INTERVAL_MS: '3000',
  };
  let procs: Proc[] = [];

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await dropDatabase(dbName);
    await deleteRedisPrefix(prefix);
  });

  it('three processes started at the same moment on a database that does not exist all become healthy', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    procs = ports.map((port) => startProcess(env, port));
    await Promise.all(procs.map((p) => waitHealthy(p)));
  }, 120_000);

  it('they share the locks: no overlap and FIFO with clients spread over all three', async () => {
    const repo = 'proc/repo';
    const base = `/sfp/api/locks/${encodeURIComponent(repo)}/env`;
    let holders = 0;
    let max = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, c) => {
        for (let i = 0; i < 3; i++) {
          const api = http(procs[(c + i) % 3].url, owner);
          let t = (await api.post('/sfp/api/locks', { repository: repo, resource: 'env', leaseDurationSeconds: 30 })).body;
          while (t.status !== 'acquired') {
            t = (await http(procs[(c + i + 1) % 3].url, owner).post(`${base}/${t.id}/acquire?waitSeconds=20`)).body.ticket;
          }
          max = Math.max(max, ++holders);
          tokens.push(t.fencingToken);
          await sleep(2);
          holders--;
          expect((await http(procs[(c + i + 2) % 3].url, owner).delete(`${base}/${t.id}`)).status).toBe(200);
        }
      }),
    );
    expect(max).toBe(1);
    expect(tokens).toHaveLength(36);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]);
  }, 60_000);

  it('a process killed with SIGKILL right after granting a lease: the others end that lease on time and grant the waiter', async () => {
    const victim = procs[2];
    const api = http(victim.url, owner);
    const holder = (await api.post('/sfp/api/locks', { repository: 'proc/repo', resource: 'crash', leaseDurationSeconds: 4 })).body;
    const waiter = (await api.post('/sfp/api/locks', { repository: 'proc/repo', resource: 'crash', leaseDurationSeconds: 30 })).body;
    expect([holder.status, waiter.status]).toEqual(['acquired', 'queued']);
    // At once: its in-process timer dies with it, with no hand-over, and the lease's BullMQ job
    // (written 50 ms into a hold) is not written yet. Only the survivors' sweeps know the lease
    // end: they run at it (plus 50 ms), not up to SWEEP_INTERVAL_MS later.
    victim.child.kill('SIGKILL');
    await victim.exited;
    procs = procs.filter((p) => p !== victim);
    // Nobody reads the lock (a read would settle it): only the survivors' BullMQ workers or sweeps can.
    const pg = new Client({ connectionString: env.DATABASE_URL });
    await pg.connect();
    try {
      const row = async () => (await pg.query('SELECT status, lease_start FROM tickets WHERE id = $1', [waiter.id])).rows[0];
      let w = await row();
      for (let i = 0; i < 100 && w.status !== 'acquired'; i++) {
        await sleep(50);
        w = await row();
      }
      expect(w.status).toBe('acquired');
      const lateness = new Date(w.lease_start).getTime() - Date.parse(holder.leaseExpiresAt);
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(1_000); // the deadline's sweep (50 ms late), with room for a loaded machine
    } finally {
      await pg.end();
    }
    const seen = (await http(procs[0].url, owner).get(`/sfp/api/locks/${encodeURIComponent('proc/repo')}/crash/${holder.id}`)).body;
    expect(seen).toMatchObject({ status: 'released', releaseReason: 'expired' });
  }, 60_000);

  it('SIGTERM under keep-alive load: it drains (health 503, answers go on), exits 0, and leaves nothing half-done', async () => {
    const victim = procs[procs.length - 1];
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const outcomes: Record<string, number> = {};
    const count = (k: string) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
    const post = (body: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${victim.url}/sfp/api/locks`, { method: 'POST', agent, headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end(body);
      });
    let stopped = false;
    const clients = Array.from({ length: 8 }, async (_, c) => {
      for (let i = 0; !stopped; i++) {
        try {
          count(String(await post(JSON.stringify({ repository: 'proc/drain', resource: `c${c}-${i}`, leaseDurationSeconds: 30 }))));
        } catch (err) {
          count((err as { code?: string }).code ?? 'error');
          if ((err as { code?: string }).code === 'ECONNREFUSED') return; // it has stopped listening: nothing was sent
        }
      }
    });
    await sleep(500);
    victim.child.kill('SIGTERM');
    // While it drains (500 ms) it still answers, and /health tells load balancers to stop sending.
    let health: { status: number; body: any } | undefined;
    for (let i = 0; i < 150; i++) {
      health = await http(victim.url).get('/health').catch(() => undefined);
      if (!health || health.status === 503) break;
      await sleep(20);
    }
    procs = procs.filter((p) => p !== victim);
    // 503 'shutting_down' (Terminus's own flag, which may be set first) or 'error' naming the instance.
    expect(health).toMatchObject({ status: 503, body: { status: expect.stringMatching(/^(shutting_down|error)$/) } });
    expect(await Promise.race([victim.exited, sleep(15_000).then(() => 'timeout' as const)])).toBe(0);
    stopped = true;
    await Promise.all(clients);
    agent.destroy();
    expect(outcomes['201']).toBeGreaterThan(20);
    // A connection opened just as the listener closes is reset (no server can answer it): what
    // matters is that no such request was half-done. Every 201 is a ticket, and nothing else is.
    const pg = new Client({ connectionString: env.DATABASE_URL });
    await pg.connect();
    try {
      const { rows } = await pg.query(`SELECT count(*)::int AS n FROM tickets t JOIN locks l ON l.id = t.lock_id WHERE l.repository = 'proc/drain'`);
      expect(rows[0].n).toBe(outcomes['201']);
    } finally {
      await pg.end();
    }
  }, 60_000);

  it('SIGTERM drains and exits cleanly; the others keep serving', async () => {
    const [first, ...rest] = procs;
    // A long-poll in flight on the stopping process is answered, not cut off.
    const api = http(first.url, owner);
    const repo = encodeURIComponent('proc/repo');
    const holder = (await api.post('/sfp/api/locks', { repository: 'proc/repo', resource: 'drain', leaseDurationSeconds: 30 })).body;
    const waiter = (await api.post('/sfp/api/locks', { repository: 'proc/repo', resource: 'drain', leaseDurationSeconds: 30 })).body;
    const poll = api.post(`/sfp/api/locks/${repo}/drain/${waiter.id}/acquire?waitSeconds=50`);
    await sleep(200);
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    const answered = await poll;
    expect(answered.status).toBe(200);
    expect(answered.body.acquired).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(holder.status).toBe('acquired');
    const code = await Promise.race([first.exited, sleep(15_000).then(() => 'timeout' as const)]);
    expect(code).toBe(0);
    for (const p of rest) expect((await http(p.url).get('/health')).status).toBe(200);
    for (const p of rest) p.child.kill('SIGTERM');
    expect(await Promise.all(rest.map((p) => p.exited))).toEqual(rest.map(() => 0));
  }, 60_000);
});

describe('a service process started before PostgreSQL is reachable', () => {
  it('waits, saying so on every attempt, and starts by itself once PostgreSQL answers', async () => {
    const id = randomBytes(4).toString('hex');
    const dbName = `qm_test_wait_${id}`;
    const proxy = new TcpProxy(5432);
    await proxy.start();
    await proxy.cut(); // its port is known but nothing answers
    const proc = startProcess(
      {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${dbName}`,
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_PREFIX: `qm-test-wait-${id}`,
        OWNER_TOKEN: `owner-${randomBytes(12).toString('hex')}`,
      },
      await freePort(),
    );
    try {
      // ts-node start-up takes seconds on a busy machine: wait for two attempts, however long.
      const attempts = () => proc.output.join('').split('\n').filter((l) => l.includes('unreachable'));
      for (let i = 0; i < 150 && attempts().length < 2 && proc.child.exitCode === null; i++) await sleep(200);
      expect(proc.child.exitCode).toBeNull();
      const lines = attempts();
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(JSON.parse(lines[0])).toMatchObject({ level: 40, msg: expect.stringMatching(/^PostgreSQL at 127\.0\.0\.1:\d+\/qm_test_wait_\w+ is unreachable/) });
      await proxy.restore();
      await waitHealthy(proc, 30_000);
      expect(proc.output.join('')).toMatch(/answers after \d+ attempts: starting/);
    } finally {
      proc.child.kill('SIGTERM');
      await Promise.race([proc.exited, sleep(10_000)]);
      await proxy.restore();
      await dropDatabase(dbName);
      await deleteRedisPrefix(`qm-test-wait-${id}`);
      await proxy.cut();
    }
  }, 60_000);
});
