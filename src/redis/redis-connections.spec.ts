import Redis, { Cluster } from 'ioredis';
import { loadConfig } from '../config/app-config';
import { RedisConnections } from './redis-connections';

/** Builds connections without opening them: every test disconnects what it created. */
const connections = (env: Record<string, string>) => new RedisConnections(loadConfig(env));
const lazy = { lazyConnect: true };

describe('RedisConnections', () => {
  it('without any Redis setting: none, and nothing can be opened', () => {
    const c = connections({});
    expect(c.configured).toBe(false);
    expect(c.describe()).toBe('none');
    expect(() => c.create(lazy)).toThrow(/not configured/);
  });

  it('one node: the URL, with REDIS_USERNAME/PASSWORD overriding its credentials, and BullMQ options of its own', () => {
    const c = connections({ REDIS_URL: 'redis://old:pw@cache.internal:6380/2', REDIS_USERNAME: 'svc', REDIS_PASSWORD: 'secret', REDIS_PREFIX: 'qm' });
    const conn = c.create(lazy) as Redis;
    try {
      expect(conn.options).toMatchObject({ host: 'cache.internal', port: 6380, db: 2, username: 'svc', password: 'secret' });
    } finally {
      conn.disconnect();
    }
    expect(c.prefix).toBe('qm');
    expect(c.describe()).toBe('cache.internal:6380/2');
    const bull = c.bullmq();
    expect(bull).toMatchObject({ prefix: 'qm:bull', shared: null, connection: { url: 'redis://cache.internal:6380/2', maxRetriesPerRequest: null, password: 'secret' } });
  });

  it('Sentinel: the sentinels and master name, TLS to both, and a reconnect when a demoted master answers READONLY', () => {
    const c = connections({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'spw', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' });
    const conn = c.create(lazy) as Redis;
    try {
      expect(conn.options).toMatchObject({
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26379 },
        ],
        name: 'mymaster',
        password: 'pw',
        sentinelPassword: 'spw',
        tls: {},
        sentinelTLS: {},
        enableTLSForSentinelMode: true,
      });
      expect(conn.options.reconnectOnError!(new Error('READONLY You cannot write against a read only replica.'))).toBe(2);
      expect(conn.options.reconnectOnError!(new Error('ERR other'))).toBe(false);
    } finally {
      conn.disconnect();
    }
    expect(c.describe()).toBe("Sentinel master 'mymaster' via s1:26379,s2:26379");
  });

  it('Cluster: a hash-tagged prefix, so a script\'s keys and each BullMQ job\'s keys share one slot; BullMQ gets a shared Cluster', () => {
    const c = connections({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PREFIX: 'qm', REDIS_PASSWORD: 'pw' });
    expect(c.prefix).toBe('{qm}');
    const conn = c.create({ ...lazy, commandTimeout: 1_000, enableOfflineQueue: false }) as Cluster;
    try {
      expect(conn).toBeInstanceOf(Cluster);
      expect(conn.options.redisOptions).toMatchObject({ password: 'pw', commandTimeout: 1_000 });
      expect(conn.options.enableOfflineQueue).toBe(false);
    } finally {
      conn.disconnect();
    }
    const bull = c.bullmq();
    try {
      expect(bull.prefix).toBe('{qm}:bull');
      expect(bull.shared).toBeInstanceOf(Cluster);
      expect(bull.connection).toBe(bull.shared);
      expect((bull.shared as Cluster).options.redisOptions).toMatchObject({ maxRetriesPerRequest: null });
    } finally {
      bull.shared!.disconnect();
    }
  });
});
