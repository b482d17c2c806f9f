import { loadConfig, parseHostPort, redisModeOf } from './app-config';

describe('loadConfig', () => {
  it('works with no environment at all (an embedded PostgreSQL in ./data, no Redis)', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.DATA_DIR).toBe('data');
    expect(c.REDIS_URL).toBeUndefined();
    expect(redisModeOf(c)).toBe('none');
    expect(c.DAPR_LOCK_STORES).toEqual(['lockstore']);
    expect(c.DAPR_STATE_STORES).toEqual(['statestore']);
  });
  it('parses numbers, booleans and lists', () => {
    const c = loadConfig({ PORT: '8080', DAPR_LOCK_STORES: 'a, b ,c', SYNCHRONIZE_ANONYMOUS_USERS: 'false', MAX_LEASE_SECONDS: '60' });
    expect(c.PORT).toBe(8080);
    expect(c.DAPR_LOCK_STORES).toEqual(['a', 'b', 'c']);
    expect(c.SYNCHRONIZE_ANONYMOUS_USERS).toBe(false);
    expect(c.MAX_LEASE_SECONDS).toBe(60);
  });
  it('names every bad variable in one message', () => {
    expect(() => loadConfig({ PORT: 'x', REDIS_URL: 'http://nope', OWNER_TOKEN: 'short' })).toThrow(/PORT[\s\S]*REDIS_URL|REDIS_URL[\s\S]*PORT/);
    expect(() => loadConfig({ OWNER_TOKEN: 'short' })).toThrow(/OWNER_TOKEN/);
    expect(() => loadConfig({ SWEEP_INTERVAL_MS: '5' })).toThrow(/SWEEP_INTERVAL_MS/);
    expect(() => loadConfig({ DAPR_STATE_STORES: 'ok,bad name' })).toThrow(/DAPR_STATE_STORES/);
    expect(() => loadConfig({ SYNCHRONIZE_ANONYMOUS_USERS: 'maybe' })).toThrow(/SYNCHRONIZE_ANONYMOUS_USERS/);
  });

  it('refuses connection URLs the drivers could not use, naming the variable', () => {
    for (const [key, value] of [
      ['DATABASE_URL', 'postgres://postgres@127.0.0.1:notaport/x'],
      ['DATABASE_URL', 'postgres://postgres@127.0.0.1:99999/x'],
      ['DATABASE_URL', 'mysql://root@127.0.0.1/x'],
      ['REDIS_URL', 'redis://127.0.0.1:notaport'],
      ['REDIS_URL', 'redis://'],
    ]) {
      expect(() => loadConfig({ [key]: value })).toThrow(`${key}=${JSON.stringify(value)}: ${key} must be a valid URL such as`);
    }
    // A socket directory instead of a host is fine for PostgreSQL.
    expect(loadConfig({ DATABASE_URL: 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/qm' }).DATABASE_URL).toContain('%2F');
    expect(loadConfig({ REDIS_URL: 'rediss://:secret@cache.internal:6380/2' }).REDIS_URL).toContain('cache.internal');
  });

  it('says what is wrong with a value once, not every rule it breaks', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT="abc": PORT must be an integer number$/m);
    expect(() => loadConfig({ PORT: '-1' })).toThrow(/PORT="-1": PORT must not be less than 0$/m);
  });

  it('takes one Redis mode: a URL, sentinels with the master name, or cluster nodes', () => {
    expect(redisModeOf(loadConfig({ REDIS_URL: 'redis://cache:6379' }))).toBe('single');
    const sentinel = loadConfig({ REDIS_SENTINELS: 's1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw' });
    expect(redisModeOf(sentinel)).toBe('sentinel');
    expect(sentinel.REDIS_SENTINELS).toEqual(['s1:26379', '[::1]:26380']);
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000', REDIS_TLS: 'true' });
    expect(redisModeOf(cluster)).toBe('cluster');
    expect(cluster.REDIS_TLS).toBe(true);
  });

  it('refuses two Redis modes at once, naming both', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).toThrow(/REDIS_URL, REDIS_CLUSTER_NODES: set only one of them/);
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:7000' })).toThrow(/REDIS_SENTINELS, REDIS_CLUSTER_NODES/);
  });

  it('needs the master name with sentinels, and sentinels with the name', () => {
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:26379' })).toThrow(/REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/);
    expect(() => loadConfig({ REDIS_SENTINEL_NAME: 'm' })).toThrow(/REDIS_SENTINEL_NAME: set, but REDIS_SENTINELS/);
  });

  it('refuses node lists that are not host:port, and a CA file without TLS or that cannot be read', () => {
    for (const bad of ['a', 'a:0', 'a:70000', 'a:1,,', 'http://a:1']) {
      if (bad === 'a:1,,') continue; // empty items are dropped, as in the store lists
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(/REDIS_CLUSTER_NODES.*must be a comma-separated list of host:port/);
    }
    expect(() => loadConfig({ REDIS_URL: 'redis://a:6379', REDIS_TLS_CA_FILE: __filename })).toThrow(/REDIS_TLS_CA_FILE: set, but TLS is off/);
    expect(loadConfig({ REDIS_URL: 'rediss://a:6379', REDIS_TLS_CA_FILE: __filename }).REDIS_TLS_CA_FILE).toBe(__filename);
    expect(() => loadConfig({ REDIS_TLS: 'true', REDIS_URL: 'redis://a:6379', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/REDIS_TLS_CA_FILE.*readable file/);
  });

  it('never prints a password it refuses', () => {
    expect(() => loadConfig({ REDIS_PASSWORD: 'x'.repeat(2_000) })).toThrow(/REDIS_PASSWORD=\(hidden\)/);
  });

  it('parses host:port and [ipv6]:port', () => {
    expect(parseHostPort('redis-0.internal:6379')).toEqual({ host: 'redis-0.internal', port: 6379 });
    expect(parseHostPort('[::1]:26379')).toEqual({ host: '::1', port: 26379 });
    expect(parseHostPort('::1:26379')).toBeNull();
    expect(parseHostPort('host')).toBeNull();
  });
});
