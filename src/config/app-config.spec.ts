import { loadConfig } from './app-config';

describe('loadConfig', () => {
  it('works with no environment at all (local PostgreSQL and Redis)', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.DATABASE_URL).toMatch(/^postgres:\/\/.*127\.0\.0\.1:5432/);
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
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
});
