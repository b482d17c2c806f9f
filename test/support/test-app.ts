import { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createApp } from '../../src/app.factory';
import { AppConfig, loadConfig } from '../../src/config/app-config';

const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestInstance {
  app: NestFastifyApplication;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  config: AppConfig;
}

export interface TestCluster {
  instances: TestInstance[];
  /** The first instance's URL. */
  url: string;
  ownerToken: string;
  databaseUrl: string;
  redisPrefix: string;
  env: Record<string, string>;
  /** Starts one more instance on the same database and Redis prefix. */
  addInstance(extraEnv?: Record<string, string>): Promise<TestInstance>;
  /** Stops an instance gracefully (as on SIGTERM). */
  stopInstance(instance: TestInstance): Promise<void>;
  close(): Promise<void>;
}

/**
 * Boots `count` real instances of the service on a fresh database and a fresh Redis prefix,
 * each listening on its own loopback port; `close()` stops them and removes both.
 */
export interface ClusterOptions {
  /** Rewrites the database URL the instances use (e.g. to go through a proxy); cleanup still uses the direct one. */
  mapDatabaseUrl?: (url: string) => string;
  /** Runs before the first instance starts, on the test's database (created empty first), e.g. to restore a fixture. */
  prepareDatabase?: (databaseUrl: string) => Promise<void>;
}

export async function startCluster(count = 1, extraEnv: Record<string, string> = {}, options: ClusterOptions = {}): Promise<TestCluster> {
  const id = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const databaseName = `qm_test_${id}`;
  const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${databaseName}`);
  const redisPrefix = `qm-test-${id}`;
  const ownerToken = `owner-${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: options.mapDatabaseUrl ? options.mapDatabaseUrl(databaseUrl) : databaseUrl,
    DATABASE_POOL_SIZE: '8',
    REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    OWNER_TOKEN: ownerToken,
    SHUTDOWN_DRAIN_MS: '0', // closing test clusters quickly; the process tests keep the default
    ...extraEnv,
  };
  const instances: TestInstance[] = [];
  const addInstance = async (more: Record<string, string> = {}) => {
    const config = loadConfig({ ...env, ...more });
    const app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    const instance = { app, url: `http://127.0.0.1:${address.port}`, config };
    instances.push(instance);
    return instance;
  };
  const stopInstance = async (instance: TestInstance) => {
    const i = instances.indexOf(instance);
    if (i >= 0) instances.splice(i, 1);
    await instance.app.close();
  };
  if (options.prepareDatabase) {
    await createDatabase(databaseName);
    await options.prepareDatabase(databaseUrl);
  }
  // Start the first alone (it creates the database), then the rest at once.
  await addInstance();
  await Promise.all(Array.from({ length: count - 1 }, () => addInstance()));
  return {
    instances,
    get url() {
      return instances[0].url;
    },
    ownerToken,
    databaseUrl,
    redisPrefix,
    env,
    addInstance,
    stopInstance,
    close: async () => {
      await Promise.allSettled(instances.splice(0).map((i) => i.app.close()));
      await dropDatabase(databaseName);
      await deleteRedisPrefix(redisPrefix);
    },
  };
}

export async function createDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Small JSON HTTP client over fetch for tests. */
export function http(baseUrl: string, token?: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (token) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
    if (body !== undefined) {
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(baseUrl + path, init);
    const text = await res.text();
    let json: any = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };
  return {
    get: (path: string, headers?: Record<string, string>) => call('GET', path, undefined, headers),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => call('POST', path, body ?? {}, headers),
    put: (path: string, body?: unknown, headers?: Record<string, string>) => call('PUT', path, body ?? {}, headers),
    delete: (path: string, headers?: Record<string, string>) => call('DELETE', path, undefined, headers),
    raw: call,
  };
}

/** Creates a user through the API and returns its key. */
export async function createUser(
  baseUrl: string,
  ownerToken: string,
  body: { name: string; role: 'owner' | 'application' | 'member'; repositories?: string[] },
): Promise<{ id: string; apiKey: string }> {
  const res = await http(baseUrl, ownerToken).post('/sfp/api/users', body);
  if (res.status !== 201) throw new Error(`createUser failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, apiKey: res.body.apiKey };
}
