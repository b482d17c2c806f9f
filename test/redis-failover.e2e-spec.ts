import { Client } from 'pg';
import { DeadlineJobs } from '../src/mutex/deadline-jobs';
import { LockTimers } from '../src/mutex/lock-timers.service';
import { MutexService } from '../src/mutex/mutex.service';
import { Wakeups } from '../src/mutex/wakeups.service';
import { command, RedisServer, RedisServers, until } from './support/redis-servers';
import { http, startCluster, TestCluster } from './support/test-app';

const REPO = 'failover/repo';
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SWEEP_INTERVAL_MS = 1_000;

/** Where the service's keys live now, and how to take that node away. */
interface Topology {
  env: Record<string, string>;
  /** The port of the node that holds the keys of `prefix` (the master, or the Cluster master of their slot). */
  master(prefix: string): Promise<number>;
  /** Waits until a replica has taken over from `deadPort`. */
  failedOver(prefix: string, deadPort: number): Promise<void>;
  servers: RedisServers;
  byPort(port: number): RedisServer;
}

async function keysOn(port: number, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await command(port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [string, string[]];
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

/** A ticket's row as stored (a read through the API would settle the lock itself). */
async function storedTicket(databaseUrl: string, id: string): Promise<{ status: string; lease_start: Date | null }> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    return (await pg.query('SELECT status, lease_start FROM tickets WHERE id = $1', [id])).rows[0];
  } finally {
    await pg.end();
  }
}

/**
 * The master holding a lease's job dies while the lease is held and waiters queue, and the
 * in-process timer of the instance that granted the lease is lost at the same moment. Every
 * promise must still hold, and Redis must come back into use.
 */
function failover(name: string, setup: () => Promise<Topology>) {
  describe(name, () => {
    let topology: Topology;
    let cluster: TestCluster;

    beforeAll(async () => {
      topology = await setup();
      cluster = await startCluster(2, { REDIS_URL: '', ...topology.env, SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS) });
    }, 120_000);
    afterAll(async () => {
      await cluster?.close();
      await topology?.servers.close();
    }, 60_000);

    it('grants the next waiter at the lease end, then works on the promoted replica: health, new locks, wake-ups, jobs, rate limits', async () => {
      const [granting, survivor] = cluster.instances;
      for (const i of cluster.instances) {
        // A client of a Cluster or Sentinels just formed may take a moment to find its master.
        let health = await http(i.url).get('/health');
        for (let n = 0; n < 150 && health.status !== 200; n++) {
          await sleep(100);
          health = await http(i.url).get('/health');
        }
        expect({ status: health.status, body: health.body }).toMatchObject({ status: 200, body: { info: { redis: { status: 'up', mode: topology.env.REDIS_SENTINELS ? 'sentinel' : 'cluster' } } } });
      }
      const onGranting = http(granting.url, cluster.ownerToken);
      const onSurvivor = http(survivor.url, cluster.ownerToken);
      const holder = (await onGranting.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 3 })).body;
      const first = (await onSurvivor.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
      const second = (await onSurvivor.post('/sfp/api/locks', { repository: REPO, resource: 'env', leaseDurationSeconds: 60 })).body;
      expect([holder.status, first.status, second.status]).toEqual(['acquired', 'queued', 'queued']);
      const poll = onSurvivor.post(`/sfp/api/locks/${enc(REPO)}/env/${first.id}/acquire?waitSeconds=30`);

      // The lease's job reached the master (it is written 50 ms into a hold).
      const prefix = topology.env.REDIS_CLUSTER_NODES ? `{${cluster.redisPrefix}}` : cluster.redisPrefix;
      const masterPort = await topology.master(prefix);
      await until('the lease job on the master', async () => (await keysOn(masterPort, `${prefix}:bull:lock-timers:lease-${holder.id}`)).length === 1, 5_000);

      topology.byPort(masterPort).kill();
      // The granting instance's timer is lost too (as if it had died with the master): only the
      // job, if the replica got it, and the sweeps can end the lease now.
      const timers = granting.app.get(LockTimers);
      timers.onDue(async () => undefined);

      const answered = await poll;
      expect(answered.body).toMatchObject({ acquired: true });
      const row = await storedTicket(cluster.databaseUrl, first.id);
      const lateness = new Date(row.lease_start!).getTime() - Date.parse(holder.leaseExpiresAt);
      expect(lateness).toBeGreaterThanOrEqual(0);
      expect(lateness).toBeLessThan(SWEEP_INTERVAL_MS + 2_000); // within the sweep interval, with room for a loaded machine
      expect((await onSurvivor.get(`/sfp/api/locks/${enc(REPO)}/env/${second.id}`)).body).toMatchObject({ status: 'queued', queuePosition: 1 });

      // A replica takes over; the survivor follows it by itself.
      await topology.failedOver(prefix, masterPort);
      let health = await http(survivor.url).get('/health');
      for (let i = 0; i < 300 && health.status !== 200; i++) {
        await sleep(100);
        health = await http(survivor.url).get('/health');
      }
      expect({ status: health.status, body: JSON.stringify(health.body) }).toMatchObject({ status: 200 });
      const newMaster = await topology.master(prefix);
      expect(newMaster).not.toBe(masterPort);

      // A new instance starts on the promoted replica, and wake-ups cross instances through Redis.
      const late = await cluster.addInstance();
      const onLate = http(late.url, cluster.ownerToken);
      const a = (await onSurvivor.post('/sfp/api/locks', { repository: REPO, resource: 'after', leaseDurationSeconds: 60 })).body;
      const b = (await onSurvivor.post('/sfp/api/locks', { repository: REPO, resource: 'after', leaseDurationSeconds: 60 })).body;
      expect([a.status, b.status]).toEqual(['acquired', 'queued']);
      const wakeupsBefore = survivor.app.get(Wakeups).stats.redis;
      const latePoll = onLate.post(`/sfp/api/locks/${enc(REPO)}/after/${b.id}/acquire?waitSeconds=30`);
      await sleep(300);
      const t0 = Date.now();
      expect((await onSurvivor.delete(`/sfp/api/locks/${enc(REPO)}/after/${a.id}`)).status).toBe(200);
      expect((await latePoll).body).toMatchObject({ acquired: true });
      expect(Date.now() - t0).toBeLessThan(1_000); // woken, not the 1 s re-read
      expect(survivor.app.get(Wakeups).stats.redis).toBeGreaterThan(wakeupsBefore);

      // BullMQ writes to the new master and its workers run jobs again.
      await until('a lease job on the new master', async () => (await keysOn(newMaster, `${prefix}:bull:lock-timers:lease-${b.id}`)).length === 1, 5_000);
      // Any instance's worker may take it: the granting instance's reconnected too.
      const checked = () => cluster.instances.reduce((n, i) => n + i.app.get(LockTimers).stats.bullmqChecks, 0);
      const before = checked();
      await late.app.get(DeadlineJobs).add([{ jobId: `probe-${a.id}`, ticketId: a.id, delayMs: 100 }]);
      await until('a deadline job run after the failover', async () => checked() > before, 15_000);

      // Rate limits count in the new master again (once the new instance's own connection is up).
      await until('the late instance healthy', async () => (await http(late.url).get('/health')).status === 200);
      expect((await http(late.url).post('/api/v0/users/anonymous')).status).toBe(200);
      expect((await keysOn(newMaster, `${prefix}:throttle:*`)).length).toBeGreaterThan(0);
      timers.onDue((id) => granting.app.get(MutexService).settleTicket(id));
    }, 120_000);
  });
}

failover('Redis Sentinel: the master dies', async () => {
  const servers = new RedisServers();
  const name = 'qm-master';
  const master = await servers.node();
  const replica = await servers.node(['--replicaof', '127.0.0.1', String(master.port)]);
  await until('the replica in sync', async () => String(await command(replica.port, 'INFO', 'replication')).includes('master_link_status:up'));
  const sentinels = [await servers.sentinel(name, master.port), await servers.sentinel(name, master.port), await servers.sentinel(name, master.port)];
  // Every sentinel has found the replica and the other sentinels before anything fails.
  for (const s of sentinels) {
    await until('sentinels discovering each other', async () => {
      const info = (await command(s.port, 'SENTINEL', 'MASTER', name)) as string[];
      const field = (k: string) => Number(info[info.indexOf(k) + 1]);
      return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
    });
  }
  const byPort = (port: number) => [master, replica].find((s) => s.port === port)!;
  const masterPort = async () => Number(((await command(sentinels[0].port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]);
  return {
    servers,
    byPort,
    env: { REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','), REDIS_SENTINEL_NAME: name },
    master: masterPort,
    failedOver: (_prefix, dead) => until('the sentinels promoting the replica', async () => (await masterPort()) !== dead && String(await command(await masterPort(), 'ROLE')).startsWith('master')),
  };
});

failover('Redis Cluster: the master of the service\'s slot dies', async () => {
  const servers = new RedisServers();
  const nodes: RedisServer[] = [];
  for (let i = 0; i < 6; i++) nodes.push(await servers.node(['--cluster-enabled', 'yes', '--cluster-node-timeout', '1000', '--cluster-config-file', `nodes-${i}.conf`]));
  await servers.createCluster(nodes);
  const alive = () => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
  /** The master serving the slot of the hash tag every key of the service carries. */
  const master = async (prefix: string) => {
    const asker = alive()[0].port;
    const slot = Number(await command(asker, 'CLUSTER', 'KEYSLOT', prefix));
    const ranges = (await command(asker, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return Number(range[2][1]);
  };
  return {
    servers,
    byPort: (port: number) => nodes.find((n) => n.port === port)!,
    env: { REDIS_CLUSTER_NODES: nodes.slice(0, 3).map((n) => `127.0.0.1:${n.port}`).join(',') },
    master,
    failedOver: async (prefix, dead) => {
      await until('a replica promoted for the slot', async () => (await master(prefix)) !== dead);
      for (const n of alive()) await until('cluster_state:ok', async () => String(await command(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'));
    },
  };
});
