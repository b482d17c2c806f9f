import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { http } from './support/test-app';

const ROOT = join(__dirname, '..');
const REPO = 'fresh/repo';
const enc = encodeURIComponent;
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

/** The files of the repository as a clone would have them (tracked, and new ones not ignored), without dist/ or data. */
function freshCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qm-fresh-'));
  chmodSync(dir, 0o755); // as a checkout is: as root, PostgreSQL runs as 'postgres', which must reach data/
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    try {
      cpSync(join(ROOT, file), join(dir, file));
    } catch {
      /* deleted in the working tree */
    }
  }
  // `npm ci` is the user's first step; this test starts after it (the lockfile's install is the same).
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** PIDs of the PostgreSQL servers running on `clusterDir`. */
function postgresOn(clusterDir: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return cmd[0].endsWith('/postgres') && cmd.includes(clusterDir); // the postmaster (its children rename themselves)
      } catch {
        return false;
      }
    })
    .map(Number);
}

interface Started {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  url: string;
}

describe('npm start from a fresh copy of the repository, with no DATABASE_URL and no REDIS_URL', () => {
  let dir: string;
  let clusterDir: string;
  let port: number;
  let running: Started | undefined;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    dir = freshCopy();
    clusterDir = join(dir, 'data', 'postgres');
    port = await freePort();
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(DATABASE_URL|REDIS_|OWNER_TOKEN|DATA_DIR|PORT|HOST)/.test(k)) env[k] = v;
    Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '100' });
  });

  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGTERM');
      await Promise.race([running.exited, sleep(30_000)]);
    }
    for (const pid of postgresOn(clusterDir)) process.kill(pid, 'SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (): Promise<Started> => {
    const child = spawn('npm', ['start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const started = { child, output, exited, url: `http://127.0.0.1:${port}` };
    running = started;
    // The first start compiles the service: minutes on a loaded machine.
    for (const end = Date.now() + 240_000; Date.now() < end && child.exitCode === null; ) {
      const health = await http(started.url)
        .get('/health')
        .catch(() => undefined);
      // Healthy can come before the start's log line has reached the pipe: wait for both.
      if (health?.status === 200 && started.output.join('').includes('queue-mutex listening on')) return started;
      await sleep(250);
    }
    throw new Error(`not healthy:\n${output.join('')}`);
  };

  const stop = async (s: Started, signal: NodeJS.Signals = 'SIGTERM') => {
    s.child.kill(signal);
    return Promise.race([s.exited, sleep(40_000).then(() => 'timeout' as const)]);
  };

  let ownerKey: string;
  let held: { id: string; fencingToken: number };

  it('compiles, starts on an embedded PostgreSQL without Redis, says so in one line, and prints a first owner key', async () => {
    const s = await start();
    const out = s.output.join('');
    expect(out).toContain('compiling');
    const line = out.split('\n').find((l) => l.includes('queue-mutex listening on'))!;
    expect(line).toMatch(/embedded PostgreSQL \d+ in .*data\/postgres .*for this one instance; set DATABASE_URL/);
    expect(line).toMatch(/no Redis \(one instance/);
    expect(line).toMatch(/migrations applied/);
    ownerKey = /created the owner key (\S+)/.exec(out)![1];
    const health = await http(s.url).get('/health');
    expect(health.body.info.redis).toMatchObject({ status: 'up', message: 'not configured' });
    expect(postgresOn(clusterDir)).toHaveLength(1);
  }, 300_000);

  it('serves a lock cycle with a key the owner key created, and ends a lease at its end', async () => {
    const owner = http(running!.url, ownerKey);
    const created = await owner.post('/sfp/api/users', { name: 'pipeline', role: 'application' });
    expect(created.status).toBe(201);
    const api = http(running!.url, created.body.apiKey);
    const a = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'uat', leaseDurationSeconds: 30 })).body;
    const b = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'uat', leaseDurationSeconds: 600 })).body;
    expect([a.status, b.status]).toEqual(['acquired', 'queued']);
    const poll = api.post(`/sfp/api/locks/${enc(REPO)}/uat/${b.id}/acquire?waitSeconds=20`);
    await sleep(200);
    expect((await api.delete(`/sfp/api/locks/${enc(REPO)}/uat/${a.id}`)).status).toBe(200);
    const granted = await poll;
    expect(granted.body).toMatchObject({ acquired: true });
    held = granted.body.ticket;

    // A lease of 1 s with a waiter long-polling: the in-process timer ends it, no Redis involved.
    const holder = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'expiry', leaseDurationSeconds: 1 })).body;
    const waiter = (await api.post('/sfp/api/locks', { repository: REPO, resource: 'expiry', leaseDurationSeconds: 30 })).body;
    const t0 = Date.now();
    const r = await api.post(`/sfp/api/locks/${enc(REPO)}/expiry/${waiter.id}/acquire?waitSeconds=20`);
    expect(r.body.acquired).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await api.get(`/sfp/api/locks/${enc(REPO)}/expiry/${holder.id}`)).body).toMatchObject({ status: 'released', releaseReason: 'expired' });
  }, 60_000);

  it("runs the README's first pipeline as written", async () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const block = /```bash\n(QM=http:\/\/127\.0\.0\.1:3000\n[\s\S]*?)```/.exec(readme)![1];
    const script = block.replace('QM=http://127.0.0.1:3000', `QM=${running!.url}`);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { env: { ...env, OWNER_TOKEN: ownerKey }, encoding: 'utf8', timeout: 90_000 });
    expect(out).toContain('deploying to uat');
    expect(out).toMatch(/"status":"released"/);
  }, 120_000);

  it('stops with its PostgreSQL on SIGTERM; a restart runs without compiling, keeps the tickets, and prints no key again', async () => {
    expect(await stop(running!)).toBe(0);
    expect(postgresOn(clusterDir)).toEqual([]);
    const s = await start();
    const out = s.output.join('');
    expect(out).not.toContain('compiling');
    expect(out).not.toContain('created the owner key');
    const ticket = await http(s.url, ownerKey).get(`/sfp/api/locks/${enc(REPO)}/uat/${held.id}`);
    expect(ticket.body).toMatchObject({ status: 'acquired', fencingToken: held.fencingToken });
  }, 300_000);

  it('a service killed with SIGKILL takes its PostgreSQL with it, and the next start works', async () => {
    const servicePid = Number(readFileSync(join(dir, 'data', 'queue-mutex.pid'), 'utf8'));
    expect(postgresOn(clusterDir)).toHaveLength(1);
    process.kill(servicePid, 'SIGKILL');
    await running!.exited;
    let left = postgresOn(clusterDir);
    for (let i = 0; i < 150 && left.length > 0; i++) {
      await sleep(100);
      left = postgresOn(clusterDir);
    }
    expect(left).toEqual([]);
    const s = await start();
    const ticket = await http(s.url, ownerKey).get(`/sfp/api/locks/${enc(REPO)}/uat/${held.id}`);
    expect(ticket.body).toMatchObject({ status: 'acquired', fencingToken: held.fencingToken });
    expect(await stop(s)).toBe(0);
    expect(postgresOn(clusterDir)).toEqual([]);
  }, 300_000);
});
