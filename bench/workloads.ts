import { performance } from 'node:perf_hooks';
import { EtcdLocks } from './etcd';
import { JsonClient } from './http';
import { closedLoop, Grant, LoadOptions, LoadResult, wallNow } from './runner';
import { sleep } from './stats';

const enc = encodeURIComponent;
/** The Dapr state store the bench writes to (the service's default, DAPR_STATE_STORES). */
const STATE_STORE = 'statestore';

export interface ContendedResult extends LoadResult {
  grants: Grant[];
}

export interface LatenessResult {
  samples: number[];
  errors: string[];
  /** What one sample's reference point is. */
  note: string;
}

/* ------------------------------------------------------------------ service (sfp Locks API) */

export class ServiceWorkloads {
  constructor(
    private readonly http: JsonClient,
    private readonly repository: string,
  ) {}

  private base(resource: string) {
    return `/sfp/api/locks/${enc(this.repository)}/${enc(resource)}`;
  }

  private async queue(resource: string, leaseDurationSeconds: number): Promise<any> {
    const r = await this.http.expect([201], 'POST', '/sfp/api/locks', { repository: this.repository, resource, leaseDurationSeconds });
    return r.body;
  }

  private async release(resource: string, ticketId: string): Promise<void> {
    await this.http.expect([200], 'DELETE', `${this.base(resource)}/${ticketId}`);
  }

  /** Long-polls until the ticket is granted; returns the granted ticket. */
  private async waitGranted(resource: string, ticketId: string, maxPolls = 4): Promise<any> {
    for (let i = 0; i < maxPolls; i++) {
      const r = await this.http.expect([200], 'POST', `${this.base(resource)}/${ticketId}/acquire?waitSeconds=30`, undefined, 40_000);
      if (r.body?.acquired) return r.body.ticket;
    }
    throw new Error(`ticket ${ticketId} not granted after ${maxPolls} long-polls`);
  }

  /** Each client on its own lock: queue (granted at once) then release. */
  uncontended(opts: LoadOptions, tag: string): Promise<LoadResult> {
    return closedLoop('service uncontended', opts, async (client, step) => {
      const resource = `${tag}-uncontended-${client}`;
      let t = performance.now();
      const ticket = await this.queue(resource, 60);
      step('POST queue', performance.now() - t);
      if (ticket.status !== 'acquired') throw new Error(`uncontended queue answered ${ticket.status}`);
      t = performance.now();
      await this.release(resource, ticket.id);
      step('DELETE release', performance.now() - t);
    });
  }

  /** All clients on one lock: queue, long-poll until granted, release at once. */
  async contended(opts: LoadOptions, tag: string): Promise<ContendedResult> {
    const resource = `${tag}-contended`;
    const grants: Grant[] = [];
    const result = await closedLoop('service contended', opts, async (client, step) => {
      let t = performance.now();
      let ticket = await this.queue(resource, 30);
      step('POST queue', performance.now() - t);
      if (ticket.status !== 'acquired') {
        t = performance.now();
        ticket = await this.waitGranted(resource, ticket.id);
        step('POST acquire (long-poll)', performance.now() - t);
      }
      const grantedAt = performance.now();
      const releasedAt = performance.now();
      t = releasedAt;
      await this.release(resource, ticket.id);
      step('DELETE release', performance.now() - t);
      grants.push({ client, token: Number(ticket.fencingToken), grantedAt, releasedAt });
    });
    return { ...result, grants };
  }

  /**
   * A holder with a 1 s lease that never releases, and a waiter long-polling behind it.
   * Lateness = when the waiter's client learns it holds the lock − the holder's leaseExpiresAt.
   */
  async expiryLateness(reps: number, tag: string): Promise<LatenessResult> {
    const samples: number[] = [];
    const errors: string[] = [];
    for (let i = 0; i < reps; i++) {
      const resource = `${tag}-expiry-${i}`;
      try {
        const holder = await this.queue(resource, 1);
        if (holder.status !== 'acquired') throw new Error(`holder not granted: ${holder.status}`);
        const expiresAt = Date.parse(holder.leaseExpiresAt);
        const waiter = await this.queue(resource, 30);
        if (waiter.status !== 'queued') throw new Error(`waiter not queued: ${waiter.status}`);
        await this.waitGranted(resource, waiter.id, 3);
        samples.push(wallNow() - expiresAt);
        await this.release(resource, waiter.id).catch(() => undefined);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    return { samples, errors, note: "waiter's grant seen by the client − holder's leaseExpiresAt (1 s lease)" };
  }

  /** Each client on its own key of the Dapr state store: save, then get it back. */
  stateSaveGet(opts: LoadOptions, tag: string): Promise<LoadResult> {
    return closedLoop('service state save+get', opts, async (client, step) => {
      const key = `${tag}-state-${client}`;
      const value = { client, note: 'bench', at: Date.now() };
      let t = performance.now();
      await this.http.expect([204], 'POST', `/v1.0/state/${STATE_STORE}`, [{ key, value }]);
      step('POST save', performance.now() - t);
      t = performance.now();
      const r = await this.http.expect([200], 'GET', `/v1.0/state/${STATE_STORE}/${enc(key)}`);
      step('GET', performance.now() - t);
      if (r.body?.at !== value.at) throw new Error(`state get answered ${r.text}`);
    });
  }

  /** `n` uncontended cycles by `clients` clients at once, not timed (the WAL meter's load). */
  async cycles(n: number, clients: number, tag: string): Promise<void> {
    let left = n;
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        const resource = `${tag}-wal-${client}`;
        while (left-- > 0) {
          const ticket = await this.queue(resource, 60);
          if (ticket.status !== 'acquired') throw new Error(`uncontended queue answered ${ticket.status}`);
          await this.release(resource, ticket.id);
        }
      }),
    );
  }

  /** Diagnostics: a public, no-database route, two requests per cycle (framework floor). */
  framework(opts: LoadOptions): Promise<LoadResult> {
    return closedLoop('service GET /v1.0/healthz ×2', opts, async () => {
      await this.http.expect([200, 204], 'GET', '/v1.0/healthz');
      await this.http.expect([200, 204], 'GET', '/v1.0/healthz');
    });
  }

  /** Diagnostics: an authenticated call with one SQL call and a 404 (auth + validation + one query), two per cycle. */
  authedRead(opts: LoadOptions, tag: string): Promise<LoadResult> {
    const path = `${this.base(`${tag}-nothing`)}/00000000-0000-4000-8000-000000000001`;
    return closedLoop('service GET unknown ticket ×2', opts, async () => {
      await this.http.expect([404], 'GET', path);
      await this.http.expect([404], 'GET', path);
    });
  }
}

/* ------------------------------------------------------------------ etcd v3 lock via its gateway */

export class EtcdWorkloads {
  private readonly locks: EtcdLocks;

  constructor(http: JsonClient, private readonly tag: string) {
    this.locks = new EtcdLocks(http);
  }

  /**
   * Each client on its own lock. `reuse`: one lease per client granted before the run (as an
   * etcd concurrency.Session does), cycle = lock + unlock. `per-cycle`: cycle = lease grant +
   * lock + unlock + lease revoke, the closest match to a ticket that carries its own lease.
   */
  async uncontended(opts: LoadOptions, mode: 'reuse' | 'per-cycle'): Promise<LoadResult> {
    const leases = mode === 'reuse' ? await Promise.all(Array.from({ length: opts.clients }, () => this.locks.grant(120))) : [];
    try {
      return await closedLoop(`etcd uncontended (${mode === 'reuse' ? 'session lease' : 'lease per cycle'})`, opts, async (client, step) => {
        const name = `${this.tag}/uncontended-${mode}/${client}`;
        let t = performance.now();
        let lease = leases[client]?.id;
        if (mode === 'per-cycle') {
          lease = (await this.locks.grant(60)).id;
          step('lease/grant', performance.now() - t);
          t = performance.now();
        }
        const { key } = await this.locks.lock(name, lease!);
        step('lock/lock', performance.now() - t);
        t = performance.now();
        await this.locks.unlock(key);
        step('lock/unlock', performance.now() - t);
        if (mode === 'per-cycle') {
          t = performance.now();
          await this.locks.revoke(lease!);
          step('lease/revoke', performance.now() - t);
        }
      });
    } finally {
      await Promise.all(leases.map((l) => this.locks.revoke(l.id).catch(() => undefined)));
    }
  }

  /** Each client on its own key: put, then range it back (the Dapr state save+get's match). */
  stateSaveGet(opts: LoadOptions): Promise<LoadResult> {
    return closedLoop('etcd put+range', opts, async (client, step) => {
      const key = `${this.tag}/state/${client}`;
      const value = JSON.stringify({ client, note: 'bench', at: Date.now() });
      let t = performance.now();
      await this.locks.put(key, value);
      step('kv/put', performance.now() - t);
      t = performance.now();
      const got = await this.locks.get(key);
      step('kv/range', performance.now() - t);
      if (got !== value) throw new Error(`etcd range answered ${got}`);
    });
  }

  /** All clients lock one name (lock/lock blocks until acquired), then unlock at once. */
  async contended(opts: LoadOptions): Promise<ContendedResult> {
    const leases = await Promise.all(Array.from({ length: opts.clients }, () => this.locks.grant(120)));
    const name = `${this.tag}/contended`;
    const grants: Grant[] = [];
    try {
      const result = await closedLoop('etcd contended', opts, async (client, step) => {
        let t = performance.now();
        const { key, revision } = await this.locks.lock(name, leases[client].id);
        step('lock/lock (blocking)', performance.now() - t);
        const grantedAt = performance.now();
        const releasedAt = performance.now();
        t = releasedAt;
        await this.locks.unlock(key);
        step('lock/unlock', performance.now() - t);
        grants.push({ client, token: revision, grantedAt, releasedAt });
      });
      return { ...result, grants };
    } finally {
      await Promise.all(leases.map((l) => this.locks.revoke(l.id).catch(() => undefined)));
    }
  }

  /**
   * A holder whose lease is never kept alive (TTL 1 s asked; etcd raises it to its minimum),
   * a waiter blocked in lock/lock. Lateness = waiter acquires − (grant answered + granted TTL);
   * taking the grant's answer as the start is slightly in etcd's favour.
   */
  async expiryLateness(reps: number): Promise<LatenessResult> {
    const samples: number[] = [];
    const errors: string[] = [];
    let ttlSeen = 0;
    for (let i = 0; i < reps; i++) {
      const name = `${this.tag}/expiry/${i}`;
      try {
        const holderLease = await this.locks.grant(1);
        const expiresAt = wallNow() + holderLease.ttl * 1000;
        ttlSeen = holderLease.ttl;
        await this.locks.lock(name, holderLease.id);
        const waiterLease = await this.locks.grant(60);
        const { key } = await this.locks.lock(name, waiterLease.id, 30_000);
        samples.push(wallNow() - expiresAt);
        await this.locks.unlock(key).catch(() => undefined);
        await this.locks.revoke(waiterLease.id).catch(() => undefined);
      } catch (err) {
        errors.push((err as Error).message);
        await sleep(100);
      }
    }
    return { samples, errors, note: `waiter's lock/lock returns − (lease grant answered + TTL; 1 s asked, etcd granted ${ttlSeen} s)` };
  }
}
