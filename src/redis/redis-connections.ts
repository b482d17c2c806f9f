import { Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import Redis, { Cluster, ClusterOptions, RedisOptions } from 'ioredis';
import type { ConnectionOptions as BullmqConnection } from 'bullmq';
import { AppConfig, parseHostPort, RedisMode, redisModeOf } from '../config/app-config';

/** A connection to one node (itself, or the master its sentinels name) or to a Cluster. */
export type RedisConnection = Redis | Cluster;

/**
 * Opens every Redis connection of the service, for the configured mode: one node (REDIS_URL),
 * the master a set of sentinels names (REDIS_SENTINELS), or a Cluster (REDIS_CLUSTER_NODES).
 * Each follows a failover by itself: ioredis asks the sentinels for the new master, or re-reads
 * the Cluster's slots. REDIS_USERNAME/PASSWORD and the TLS settings apply in every mode.
 */
@Injectable()
export class RedisConnections {
  readonly mode: RedisMode;
  private tlsOptions?: TlsOptions | null;

  constructor(private readonly config: AppConfig) {
    this.mode = redisModeOf(config);
  }

  get configured(): boolean {
    return this.mode !== 'none';
  }

  /**
   * The prefix of every key and channel. In a Cluster it is a hash tag (`{queue-mutex}`), so every
   * key lives in one slot: a Lua script's keys and each BullMQ job's keys must share one.
   */
  get prefix(): string {
    return this.mode === 'cluster' ? `{${this.config.REDIS_PREFIX}}` : this.config.REDIS_PREFIX;
  }

  /** A new connection; `role` tunes it (timeouts, offline queue, retries) for what it is used for. */
  create(role: RedisOptions): RedisConnection {
    switch (this.mode) {
      case 'single':
        return new Redis(this.url(), { ...this.nodeOptions(), ...role });
      case 'sentinel':
        return new Redis({ ...this.sentinelOptions(), ...role });
      case 'cluster':
        return new Cluster(this.clusterNodes(), this.clusterOptions(role));
      default:
        throw new Error('Redis is not configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)');
    }
  }

  /**
   * BullMQ's connection: options for one node or Sentinel (it opens its own connections from
   * them), or for a Cluster a connection it shares (and duplicates for its blocking reads),
   * which the caller closes. BullMQ's reads must never give up while Redis is away.
   */
  bullmq(): { connection: BullmqConnection; prefix: string; shared: RedisConnection | null } {
    const role: RedisOptions = { maxRetriesPerRequest: null, enableOfflineQueue: true };
    const prefix = `${this.prefix}:bull`;
    switch (this.mode) {
      case 'single':
        return { connection: { url: this.url(), ...this.nodeOptions(), ...role } as BullmqConnection, prefix, shared: null };
      case 'sentinel':
        return { connection: { ...this.sentinelOptions(), ...role }, prefix, shared: null };
      case 'cluster': {
        const cluster = this.create(role);
        return { connection: cluster, prefix, shared: cluster };
      }
      default:
        throw new Error('Redis is not configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)');
    }
  }

  /** For the start-up line and /health: where Redis is, without credentials. */
  describe(): string {
    switch (this.mode) {
      case 'single': {
        const url = new URL(this.config.REDIS_URL!);
        return `${url.protocol === 'rediss:' || this.config.REDIS_TLS ? 'TLS ' : ''}${url.host}${url.pathname.length > 1 ? url.pathname : ''}`;
      }
      case 'sentinel':
        return `Sentinel master '${this.config.REDIS_SENTINEL_NAME}' via ${this.config.REDIS_SENTINELS!.join(',')}`;
      case 'cluster':
        return `Cluster via ${this.config.REDIS_CLUSTER_NODES!.join(',')}`;
      default:
        return 'none';
    }
  }

  /** REDIS_URL, without the credentials that REDIS_USERNAME/REDIS_PASSWORD replace (ioredis would prefer the URL's). */
  private url(): string {
    const url = new URL(this.config.REDIS_URL!);
    if (this.config.REDIS_USERNAME) url.username = '';
    if (this.config.REDIS_PASSWORD) url.password = '';
    return url.toString();
  }

  /** Authentication and TLS of a data node, in any mode. */
  private nodeOptions(): RedisOptions {
    const options: RedisOptions = {};
    if (this.config.REDIS_USERNAME) options.username = this.config.REDIS_USERNAME;
    if (this.config.REDIS_PASSWORD) options.password = this.config.REDIS_PASSWORD;
    const tls = this.tls();
    if (tls) options.tls = tls;
    return options;
  }

  private sentinelOptions(): RedisOptions {
    const tls = this.tls();
    return {
      ...this.nodeOptions(),
      sentinels: this.config.REDIS_SENTINELS!.map((s) => parseHostPort(s)!),
      name: this.config.REDIS_SENTINEL_NAME,
      sentinelPassword: this.config.REDIS_SENTINEL_PASSWORD,
      // No failoverDetector: its sentinel connections outlive a closed client, reconnecting every
      // minute for ever. A dead master drops the socket (ioredis asks the sentinels again on
      // reconnect), and a live one demoted to replica is caught by reconnectOnError below.
      sentinelRetryStrategy: (times: number) => Math.min(times * 200, 2_000),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      // A master demoted to replica answers writes with READONLY: reconnect (and ask the sentinels again).
      reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
    };
  }

  private clusterNodes(): { host: string; port: number }[] {
    return this.config.REDIS_CLUSTER_NODES!.map((n) => parseHostPort(n)!);
  }

  private clusterOptions(role: RedisOptions): ClusterOptions {
    const { enableOfflineQueue, retryStrategy, ...perNode } = role;
    return {
      redisOptions: { ...this.nodeOptions(), ...perNode },
      enableOfflineQueue: enableOfflineQueue ?? true,
      clusterRetryStrategy: retryStrategy ?? ((times: number) => Math.min(times * 200, 2_000)),
      // A failover moves slots: retry there soon instead of failing the command.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      slotsRefreshTimeout: 2_000,
      scaleReads: 'master',
    };
  }

  private tls(): TlsOptions | undefined {
    if (this.tlsOptions === undefined) {
      const on = this.config.REDIS_TLS || this.config.REDIS_URL?.startsWith('rediss:');
      this.tlsOptions = on ? (this.config.REDIS_TLS_CA_FILE ? { ca: readFileSync(this.config.REDIS_TLS_CA_FILE) } : {}) : null;
    }
    return this.tlsOptions ?? undefined;
  }
}
