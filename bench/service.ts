import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { JsonClient } from './http';
import { sleep, sleepUnref } from './stats';

export const ROOT = path.resolve(__dirname, '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function newestMtime(dir: string): number {
  let newest = 0;
  if (!fs.existsSync(dir)) return 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (/\.(ts|json|html|css|js)$/.test(entry.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function tsc(project: string, outDir: string, cwd: string): { ok: boolean; out: string } {
  fs.rmSync(outDir, { recursive: true, force: true });
  const bin = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const r = spawnSync(process.execPath, [bin, '-p', project, '--outDir', outDir, '--sourceMap', 'false'], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 300_000,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status === 0) copyAssets(path.join(cwd, 'src'), path.join(outDir, 'src'));
  return { ok: r.status === 0 && fs.existsSync(path.join(outDir, 'src/main.js')), out };
}

/** What nest-cli copies beside the compiled code (see nest-cli.json): the SQL function files and the dashboard. */
function copyAssets(srcDir: string, outDir: string): void {
  for (const entry of fs.readdirSync(srcDir, { withFileTypes: true })) {
    const from = path.join(srcDir, entry.name);
    const to = path.join(outDir, entry.name);
    if (entry.isDirectory()) copyAssets(from, to);
    else if (entry.name.endsWith('.sql') || from.includes(`${path.sep}dashboard${path.sep}`)) {
      fs.mkdirSync(outDir, { recursive: true });
      fs.copyFileSync(from, to);
    }
  }
}

/**
 * The node options a build ships with: those its package.json's `start:prod` puts before
 * `dist/src/main` (a heap setting, say). The bench runs each build as production runs it.
 */
export function nodeFlagsOf(packageJson: string): string[] {
  const script: string = JSON.parse(packageJson).scripts?.['start:prod'] ?? '';
  const m = /\bnode((?:\s+--\S+)*)\s+dist\/src\/main\b/.exec(script);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** How to run a compiled entry point with those options, and a note that names them. */
function launch(flags: string[], main: string, note: string): { command: string[]; note: string } {
  return { command: [...flags, main], note: flags.length ? `${note}, node ${flags.join(' ')}` : note };
}

/**
 * How to run the service, compiled (ts-node would add its own overhead):
 * - `dist/src/main.js` when it is newer than every file under src/ and migrations/;
 * - otherwise the working tree compiled privately into bench/results/build/worktree (not
 *   `npm run build`: its deleteOutDir wipes the shared dist/, and with someone's work in progress
 *   that does not compile it leaves dist/ broken for everyone);
 * - if the working tree does not compile, the last commit (git HEAD) compiled the same way.
 * BENCH_BUILD=never uses dist/ as it is; BENCH_BUILD=always skips the freshness check;
 * BENCH_BUILD=head benchmarks git HEAD.
 */
export function resolveEntry(log: (s: string) => void): { command: string[]; note: string } {
  const main = path.join(ROOT, 'dist/src/main.js');
  const mode = process.env.BENCH_BUILD ?? 'auto';
  const exists = fs.existsSync(main);
  const flags = nodeFlagsOf(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  if (mode === 'never') {
    if (!exists) throw new Error('BENCH_BUILD=never but dist/src/main.js does not exist');
    return launch(flags, main, 'dist/ as built');
  }
  const fresh = exists && Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'migrations'))) < fs.statSync(main).mtimeMs;
  if (mode === 'auto' && fresh) return launch(flags, main, 'dist/ (newer than src/)');
  const buildRoot = path.join(__dirname, 'results', 'build');
  if (mode !== 'head') {
    log(`${exists ? 'dist/ is older than src/' : 'no dist/'}: compiling the working tree into ${path.relative(ROOT, buildRoot)}/worktree ...`);
    const wt = tsc(path.join(ROOT, 'tsconfig.build.json'), path.join(buildRoot, 'worktree'), ROOT);
    if (wt.ok) return launch(flags, path.join(buildRoot, 'worktree/src/main.js'), 'working tree, compiled');
    log(`the working tree does not compile (someone's work in progress?):\n${wt.out.split('\n').slice(0, 10).join('\n')}`);
  }
  const head = buildRef('HEAD', log);
  return { command: head.command, note: `${head.note}${mode === 'head' ? '' : ' (working tree did not compile)'}` };
}

/** A commit of this repository (`git archive`), compiled privately: to benchmark an earlier build beside this one. */
export function buildRef(ref: string, log: (s: string) => void): { command: string[]; note: string } {
  const sha = spawnSync('git', ['rev-parse', '--short', ref], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  if (!sha) throw new Error(`no such git ref: ${ref}`);
  const buildRoot = path.join(__dirname, 'results', 'build');
  const src = path.join(buildRoot, `${sha}-src`);
  fs.rmSync(src, { recursive: true, force: true });
  fs.mkdirSync(src, { recursive: true });
  const archive = spawnSync('sh', ['-c', `git archive ${sha} src migrations tsconfig.json tsconfig.build.json | tar -x -C '${src}'`], { cwd: ROOT, encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive ${ref} failed: ${archive.stderr}`);
  const out = path.join(buildRoot, sha);
  const pkg = spawnSync('git', ['show', `${sha}:package.json`], { cwd: ROOT, encoding: 'utf8' });
  const packageJson = pkg.status === 0 ? pkg.stdout : '{}';
  // Its own node_modules serves the compiler in src/ and the compiled code in out/ alike: the
  // packages its lockfile pinned (a dependency upgrade is part of what is compared), else only
  // what this checkout lacks. BENCH_VARIANT_DEPS=checkout compares the code alone.
  const locked = process.env.BENCH_VARIANT_DEPS === 'checkout' ? null : installLockedDependencies(sha, buildRoot, log);
  if (locked) fs.symlinkSync(locked, path.join(src, 'node_modules'));
  const ownModules = locked ?? (installMissingDependencies(packageJson, src, log) ? path.join(src, 'node_modules') : null);
  log(`compiling git ${ref} (${sha}) into ${path.relative(ROOT, buildRoot)}/${sha} ...`);
  const built = tsc(path.join(src, 'tsconfig.build.json'), out, src);
  fs.rmSync(path.join(out, 'node_modules'), { force: true });
  if (ownModules) {
    fs.mkdirSync(out, { recursive: true });
    fs.symlinkSync(ownModules, path.join(out, 'node_modules'));
  }
  if (!built.ok) throw new Error(`git ${ref} does not compile:\n${built.out.split('\n').slice(0, 10).join('\n')}`);
  return launch(nodeFlagsOf(packageJson), path.join(out, 'src/main.js'), `git ${ref} (${sha}), compiled`);
}

/**
 * The runtime packages (no dev or optional ones) a commit's lockfile pins, installed with
 * `npm ci` into build/<sha>-deps once and kept for later runs. Returns its node_modules, or null
 * when that commit has no lockfile.
 */
function installLockedDependencies(sha: string, buildRoot: string, log: (s: string) => void): string | null {
  const files = spawnSync('git', ['ls-tree', '-r', '--name-only', sha], { cwd: ROOT, encoding: 'utf8' })
    .stdout.split('\n')
    .filter((f) => f === 'package.json' || f === 'package-lock.json' || /^[^/]+\/[^/]+\/package\.json$/.test(f));
  if (!files.includes('package-lock.json')) return null;
  const dir = path.join(buildRoot, `${sha}-deps`);
  const modules = path.join(dir, 'node_modules');
  const done = path.join(dir, '.installed');
  if (fs.existsSync(done)) return modules;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // Workspace folders' package.json files too: npm ci wants every workspace its lockfile names.
  const archive = spawnSync('sh', ['-c', `git archive ${sha} ${files.join(' ')} | tar -x -C '${dir}'`], { cwd: ROOT, encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive of ${sha}'s package files failed: ${archive.stderr}`);
  log(`installing the runtime packages ${sha}'s lockfile pins, into ${path.relative(ROOT, modules)} (once) ...`);
  const r = spawnSync('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm ci for ${sha} failed:\n${(r.stderr || r.stdout).slice(-2000)}`);
  fs.writeFileSync(done, '');
  return modules;
}

/**
 * Runtime dependencies an earlier build has and this checkout does not (a library since
 * dropped), at the versions that build pinned, into its own node_modules beside its code. Peers
 * are not installed: they resolve to this checkout's copies, so no framework is loaded twice.
 */
function installMissingDependencies(packageJson: string, dir: string, log: (s: string) => void): boolean {
  const wanted: Record<string, string> = JSON.parse(packageJson).dependencies ?? {};
  const missing = Object.entries(wanted).filter(([name]) => !fs.existsSync(path.join(ROOT, 'node_modules', name, 'package.json')));
  if (missing.length === 0) return false;
  const specs = missing.map(([name, version]) => `${name}@${version}`);
  log(`installing what that build needs and this checkout lacks, into ${path.relative(ROOT, dir)}/node_modules: ${specs.join(', ')} ...`);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'bench-earlier-build', private: true }));
  const r = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund', ...specs], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`npm install ${specs.join(' ')} failed:\n${(r.stderr || r.stdout).slice(-2000)}`);
  return true;
}

export interface ServiceHandle {
  url: string;
  token: string;
  pid: number;
  databaseName: string;
  databaseUrl: string;
  redisPrefix: string;
  note: string;
  logFile: string;
  profileDir?: string;
  client: JsonClient;
  /** Postgres backend pids of the bench database (for CPU accounting). */
  backendPids(): Promise<number[]>;
  /** Throws (with the log's tail) if the service process has exited. */
  assertAlive(): void;
  /** With BENCH_PROFILE: start (first call) / stop and collect (second call) a CPU profile. */
  toggleProfile(): Promise<string | undefined>;
  stop(): Promise<void>;
}

const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Starts the service as a child process on a fresh database and Redis prefix, waits for
 * /health; `stop()` sends SIGTERM, then drops the database and deletes the Redis keys.
 */
export interface ServiceOptions {
  /** Extra modules to preload (experiments). */
  preloads?: string[];
  /** Extra environment for the service (experiments, e.g. LOG_LEVEL=silent). */
  env?: Record<string, string>;
  /** Another build to run (buildRef), instead of the one under test. */
  entry?: { command: string[]; note: string };
}

let entry: { command: string[]; note: string } | undefined;

export async function startService(resultsDir: string, log: (s: string) => void, options: ServiceOptions = {}): Promise<ServiceHandle> {
  entry ??= resolveEntry(log);
  const { command, note } = options.entry ?? entry;
  const id = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const databaseName = `qm_bench_${id}`;
  const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${databaseName}`);
  const redisPrefix = `qm-bench-${id}`;
  const token = `bench-owner-${randomBytes(16).toString('hex')}`;
  const port = await freePort();

  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${databaseName}"`);
    // Diagnostics: per-function call counts and times in pg_stat_user_functions.
    if (process.env.BENCH_DIAG === '1') await admin.query(`ALTER DATABASE "${databaseName}" SET track_functions = 'pl'`);
  } finally {
    await admin.end();
  }

  const logFile = path.join(resultsDir, `service-${id}.log`);
  const logStream = fs.createWriteStream(logFile);
  const nodeArgs: string[] = [];
  for (const p of options.preloads ?? []) nodeArgs.push('--require', p);
  let profileDir: string | undefined;
  if (process.env.BENCH_PROFILE === '1') {
    profileDir = path.join(resultsDir, `profile-${id}`);
    fs.mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--require', path.join(__dirname, 'profile-preload.js'));
  }
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...command], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_PREFIX: redisPrefix,
      OWNER_TOKEN: token,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      ...(process.env.BENCH_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.BENCH_POOL_SIZE } : {}),
      ...(profileDir ? { BENCH_PROFILE_DIR: profileDir } : {}),
      ...(options.env ?? {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(logStream, { end: false });
  child.stderr!.pipe(logStream, { end: false });
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  const client = new JsonClient(url, { authorization: `Bearer ${token}` }, 64);

  const cleanup = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exitPromise, sleepUnref(15_000)]);
      if (!exited) {
        log('service did not stop within 15 s of SIGTERM: SIGKILL');
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleepUnref(5_000)]);
      }
    }
    client.close();
    logStream.end();
    const a = new Client({ connectionString: PG_ADMIN_URL });
    try {
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
    } catch (err) {
      log(`could not drop database ${databaseName}: ${(err as Error).message}`);
    } finally {
      await a.end().catch(() => undefined);
    }
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      let cursor = '0';
      let deleted = 0;
      for (let i = 0; i < 10_000; i++) {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}:*`, 'COUNT', 1000);
        if (keys.length) deleted += await redis.unlink(...keys);
        cursor = next;
        if (cursor === '0') break;
      }
      log(`cleaned up: database ${databaseName} dropped, ${deleted} Redis keys under ${redisPrefix}: deleted`);
    } catch (err) {
      log(`could not clean Redis keys ${redisPrefix}:*: ${(err as Error).message}`);
    } finally {
      redis.disconnect();
    }
  };

  // Wait for /health (bounded).
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      await cleanup();
      const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '';
      throw new Error(`service exited during start (${JSON.stringify(exited)}):\n${tail}`);
    }
    const ok = await client.request('GET', '/health', undefined, 2_000).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await cleanup();
      throw new Error(`service did not become healthy within 90 s (log: ${logFile})`);
    }
    await sleep(200);
  }

  let profiling = false;
  let profileCount = 0;
  return {
    url,
    token,
    pid: child.pid!,
    databaseName,
    databaseUrl,
    redisPrefix,
    note,
    logFile,
    profileDir,
    client,
    async backendPids() {
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        const r = await c.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [databaseName]);
        return r.rows.map((row) => Number(row.pid));
      } finally {
        await c.end();
      }
    },
    assertAlive() {
      if (exited) {
        const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '';
        throw new Error(`the service exited during the run (${JSON.stringify(exited)}); log ${logFile}:\n${tail}`);
      }
    },
    async toggleProfile() {
      if (!profileDir) return undefined;
      child.kill('SIGWINCH');
      if (!profiling) {
        profiling = true;
        await sleep(100);
        return undefined;
      }
      profiling = false;
      const file = path.join(profileDir, `profile-${++profileCount}.cpuprofile`);
      for (let i = 0; i < 300 && !fs.existsSync(`${file}.done`); i++) await sleep(100);
      return fs.existsSync(file) ? file : undefined;
    },
    stop: cleanup,
  };
}
