import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  process: ChildProcess;
  /** SIGKILL: the node is gone at once, as when its machine dies. */
  kill(): void;
}

/** Polls `check` until it is true, or fails after `ms` saying what it waited for. */
export async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One-off command against a node. */
export async function command(port: number, ...args: (string | number)[]): Promise<unknown> {
  return commandOver({ port }, ...args);
}

/** One-off command against a node that speaks only TLS, trusting the authority `ca` (PEM). */
export async function commandTls(port: number, ca: Buffer, ...args: (string | number)[]): Promise<unknown> {
  return commandOver({ port, tls: { ca } }, ...args);
}

async function commandOver(options: { port: number; tls?: { ca: Buffer } }, ...args: (string | number)[]): Promise<unknown> {
  const redis = new Redis({ ...options, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    redis.disconnect();
  }
}

/**
 * Real redis-server processes on free loopback ports, each in its own folder of one temporary
 * directory; `close()` kills every one of them and removes the directory.
 */
export class RedisServers {
  readonly dir = mkdtempSync(join(tmpdir(), 'qm-redis-'));
  private readonly servers: RedisServer[] = [];

  /** A data node (no persistence); `args` add e.g. `--replicaof` or cluster settings. */
  async node(args: string[] = []): Promise<RedisServer> {
    const port = await freePort();
    const dir = join(this.dir, String(port));
    mkdirSync(dir);
    return this.launch(port, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args]);
  }

  /**
   * A data node that speaks only TLS, with a certificate for 127.0.0.1 and localhost signed by a
   * new authority of its own (made with the openssl command); `ca` is that authority's PEM file.
   */
  async tlsNode(): Promise<RedisServer & { ca: string }> {
    const port = await freePort();
    const dir = join(this.dir, `tls-${port}`);
    mkdirSync(dir);
    const file = (name: string) => join(dir, name);
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '1', '-subj', '/CN=queue-mutex test authority');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('redis.key'), '-out', file('redis.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', file('redis.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('redis.crt'), '-days', '1', '-extfile', file('san.cnf'));
    const ca = readFileSync(file('ca.crt'));
    const server = await this.launch(
      port,
      ['--port', '0', '--tls-port', String(port), '--tls-cert-file', file('redis.crt'), '--tls-key-file', file('redis.key'),
        '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'no', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      () => commandTls(port, ca, 'PING'),
    );
    return { ...server, ca: file('ca.crt') };
  }

  /** A sentinel watching `masterPort` as `name`, quick to declare it down and to fail over. */
  async sentinel(name: string, masterPort: number): Promise<RedisServer> {
    const port = await freePort();
    const dir = join(this.dir, `sentinel-${port}`);
    mkdirSync(dir);
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`,
        `sentinel parallel-syncs ${name} 1`,
      ].join('\n') + '\n',
    );
    return this.launch(port, [conf, '--sentinel']);
  }

  private async launch(port: number, args: string[], ping = () => command(port, 'PING')): Promise<RedisServer> {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    const server: RedisServer = { port, process: child, kill: () => child.kill('SIGKILL') };
    this.servers.push(server);
    await until(`redis-server on ${port}`, async () => (await ping()) === 'PONG', 10_000);
    return server;
  }

  /** `redis-cli --cluster create` over `nodes`, one replica per master; resolves once every node says the cluster is ok. */
  async createCluster(nodes: RedisServer[]): Promise<void> {
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await new Promise<void>((resolve, reject) =>
      execFile('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'], (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(),
      ),
    );
    for (const n of nodes) await until(`cluster_state:ok on ${n.port}`, async () => String(await command(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'));
    // Replicas join after the slots are assigned: a failover needs each in sync with its master.
    await until('a replica in sync for every master', async () => {
      const ranges = (await command(nodes[0].port, 'CLUSTER', 'SLOTS')) as unknown[][];
      return ranges.every((r) => r.length >= 4);
    });
    for (const n of nodes) {
      await until(`node ${n.port} settled`, async () => {
        const info = String(await command(n.port, 'INFO', 'replication'));
        return info.includes('role:master') || info.includes('master_link_status:up');
      });
    }
  }

  async close(): Promise<void> {
    for (const s of this.servers) s.kill();
    await Promise.all(this.servers.map((s) => (s.process.exitCode === null && s.process.signalCode === null ? new Promise((r) => s.process.once('exit', r)) : undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
