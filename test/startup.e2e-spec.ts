import { http, startCluster } from './support/test-app';

describe('startup', () => {
  it('two instances started at the same moment on an empty database both become healthy', async () => {
    // startCluster boots the first alone; here we want a true race, so start two clusters' worth by hand.
    const cluster = await startCluster(1);
    try {
      // A brand-new database name, two instances at once.
      const fresh = cluster.databaseUrl.replace(/(qm_test_[^/]+)$/, '$1_race');
      const env = { DATABASE_URL: fresh };
      const [a, b] = await Promise.all([cluster.addInstance(env), cluster.addInstance(env)]);
      expect((await http(a.url).get('/health')).status).toBe(200);
      expect((await http(b.url).get('/health')).status).toBe(200);
      await cluster.stopInstance(a);
      await cluster.stopInstance(b);
      const { dropDatabase } = await import('./support/test-app');
      await dropDatabase(fresh.split('/').pop()!);
    } finally {
      await cluster.close();
    }
  });

  it('refuses to start on a bad configuration value, naming it', async () => {
    const { loadConfig } = await import('../src/config/app-config');
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ MAX_LEASE_SECONDS: '0' })).toThrow(/MAX_LEASE_SECONDS/);
    expect(() => loadConfig({})).not.toThrow();
  });
});
