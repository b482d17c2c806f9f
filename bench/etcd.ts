import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JsonClient } from './http';
import { freePort } from './service';
import { sleep, sleepUnref } from './stats';

export interface EtcdHandle {
  url: string;
  pid: number;
  version: string;
  client: JsonClient;
  stop(): Promise<void>;
}

export function findEtcd(): string | undefined {
  const explicit = process.env.BENCH_ETCD_BIN;
  if (explicit) return fs.existsSync(explicit) ? explicit : undefined;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin'])) {
    const p = path.join(dir, 'etcd');
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Starts a single-member etcd on loopback ports in a temporary data directory. */
export async function startEtcd(bin: string, log: (s: string) => void): Promise<EtcdHandle> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qm-bench-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const version = (spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0].trim();
  const logFile = path.join(dataDir, 'etcd.log');
  const out = fs.openSync(logFile, 'w');
  const child: ChildProcess = spawn(
    bin,
    [
      '--name', 'bench',
      '--data-dir', path.join(dataDir, 'data'),
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `bench=${peer}`,
      '--log-level', 'warn',
    ],
    // ETCD_UNSUPPORTED_ARCH etc. are not needed on amd64; keep the environment minimal.
    { stdio: ['ignore', out, out], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const client = new JsonClient(url, {}, 64);
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await Promise.race([exitPromise, sleepUnref(10_000)]);
      if (!exited) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleepUnref(5_000)]);
      }
    }
    client.close();
    fs.closeSync(out);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(`etcd exited during start:\n${tail}`);
    }
    const ok = await client.request('GET', '/health', undefined, 1_000).then((r) => r.status === 200 && r.body?.health === 'true', () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('etcd did not become healthy within 30 s');
    }
    await sleep(100);
  }
  log(`etcd ${version} on ${url} (data in ${dataDir})`);
  return { url, pid: child.pid!, version, client, stop };
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The v3 HTTP/JSON gateway calls used by the bench. int64s travel as strings. */
export class EtcdLocks {
  constructor(private readonly http: JsonClient) {}

  async grant(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const r = await this.http.expect([200], 'POST', '/v3/lease/grant', { TTL: ttlSeconds });
    if (r.body?.error || !r.body?.ID) throw new Error(`lease grant failed: ${r.text}`);
    return { id: String(r.body.ID), ttl: Number(r.body.TTL) };
  }

  async revoke(id: string): Promise<void> {
    await this.http.expect([200], 'POST', '/v3/lease/revoke', { ID: id });
  }

  /** Blocks until the lock is held; returns the owner key and the header revision (our fencing token). */
  async lock(name: string, lease: string, timeoutMs = 60_000): Promise<{ key: string; revision: number }> {
    const r = await this.http.expect([200], 'POST', '/v3/lock/lock', { name: b64(name), lease }, timeoutMs);
    if (r.body?.error || !r.body?.key) throw new Error(`lock failed: ${r.text}`);
    return { key: r.body.key, revision: Number(r.body.header?.revision) };
  }

  async unlock(key: string): Promise<void> {
    const r = await this.http.expect([200], 'POST', '/v3/lock/unlock', { key });
    if (r.body?.error) throw new Error(`unlock failed: ${r.text}`);
  }

  async put(key: string, value: string): Promise<void> {
    const r = await this.http.expect([200], 'POST', '/v3/kv/put', { key: b64(key), value: b64(value) });
    if (r.body?.error) throw new Error(`put failed: ${r.text}`);
  }

  /** The value of one key (a range of one). */
  async get(key: string): Promise<string | undefined> {
    const r = await this.http.expect([200], 'POST', '/v3/kv/range', { key: b64(key) });
    if (r.body?.error) throw new Error(`range failed: ${r.text}`);
    const kv = r.body?.kvs?.[0];
    return kv ? Buffer.from(kv.value ?? '', 'base64').toString() : undefined;
  }
}
