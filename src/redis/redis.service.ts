import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { RedisOptions } from 'ioredis';
import { RedisConnection, RedisConnections } from './redis-connections';

type Handler = (message: string) => void;

/**
 * The service's own Redis connections: one for commands, one subscriber for cross-instance
 * wake-ups and cache invalidation. BullMQ keeps its own connections.
 * Redis is never the source of truth: every caller must survive a failed command.
 *
 * Without Redis configured (one instance) it opens nothing: `configured` is false, publishes
 * answer false (callers take PostgreSQL or stay local), subscriptions hear nothing.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  /** Undefined when Redis is not configured. */
  readonly client?: RedisConnection;
  private readonly subscriber?: RedisConnection;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly disconnectHandlers = new Set<() => void>();
  /** Whether each connection answered its last liveness ping (a silent, half-dead socket does not close by itself). */
  private clientAlive = true;
  private subscriberAlive = true;
  private watchdog?: NodeJS.Timeout;
  private publishFailing = false;
  private checking = false;

  constructor(private readonly connections: RedisConnections) {
    if (!connections.configured) return;
    const options: RedisOptions = {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      // A Redis that stops answering (a frozen server, a dropped route) fails a command after 1 s
      // instead of never, so callers can take another way.
      commandTimeout: 1_000,
      enableOfflineQueue: false, // fail fast while Redis is down instead of queueing forever
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      connectionName: 'queue-mutex',
    };
    const client = connections.create(options);
    const subscriber = connections.create({ ...options, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    this.client = client;
    this.subscriber = subscriber;
    for (const conn of [client, subscriber]) {
      conn.on('error', (err) => this.logger.warn(`redis: ${err.message}`));
    }
    subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    // After a reconnect we may have missed messages: let listeners re-check what they wait for.
    let firstReady = true;
    subscriber.on('ready', () => {
      this.subscriberAlive = true;
      if (firstReady) {
        firstReady = false;
        return;
      }
      for (const h of this.reconnectHandlers) h();
    });
    subscriber.on('close', () => this.disconnectHandlers.forEach((h) => h()));
    client.on('ready', () => (this.clientAlive = true));
    this.watchdog = setInterval(() => void this.checkAlive(), 1_000);
    this.watchdog.unref();
  }

  /**
   * Pings both connections. One that does not answer within a second is treated as gone: its
   * socket is dropped and re-opened (a half-dead TCP connection would otherwise stay "ready"
   * for ever), publishes take another way meanwhile, and listeners hear that messages stopped.
   */
  private async checkAlive(): Promise<void> {
    if (this.checking) return; // the previous round is still waiting on a ping
    this.checking = true;
    try {
      await this.pingBoth();
    } finally {
      this.checking = false;
    }
  }

  /** Whether Redis is configured at all (else the instance runs alone, on PostgreSQL). */
  get configured(): boolean {
    return this.client !== undefined;
  }

  private async pingBoth(): Promise<void> {
    const client = this.client!;
    const subscriber = this.subscriber!;
    const answers = async (conn: RedisConnection) => {
      if (conn.status !== 'ready') return false;
      try {
        await Promise.race([conn.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 1_000).unref())]);
        return true;
      } catch {
        return false;
      }
    };
    const [clientAnswers, subscriberAnswers] = await Promise.all([answers(client), answers(subscriber)]);
    if (!clientAnswers && client.status === 'ready') {
      this.logger.warn('redis: no answer to ping within 1 s; reconnecting the command connection');
      client.disconnect(true);
    }
    this.clientAlive = clientAnswers;
    if (!subscriberAnswers && subscriber.status === 'ready') {
      this.logger.warn('redis: no answer to ping within 1 s; reconnecting the subscriber');
      this.subscriberAlive = false;
      this.disconnectHandlers.forEach((h) => h());
      subscriber.disconnect(true);
    }
  }

  /** Namespaced key or channel name. */
  key(...parts: string[]): string {
    return [this.connections.prefix, ...parts].join(':');
  }

  /**
   * Listens on a channel. Resolves once subscribed, or after `waitMs` at most: with Redis down
   * the subscription goes out when it comes back (ioredis re-subscribes after every reconnect),
   * and start-up must not hang on Redis. Never rejects.
   */
  subscribe(channel: string, handler: Handler, waitMs = 2_000): Promise<void> {
    if (!this.subscriber) return Promise.resolve();
    let set = this.handlers.get(channel);
    let subscribed: Promise<unknown> = Promise.resolve();
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      subscribed = this.subscriber.subscribe(channel).catch((err) => this.logger.warn(`subscribe ${channel}: ${err.message}`));
    }
    set.add(handler);
    return Promise.race([subscribed, new Promise((resolve) => setTimeout(resolve, waitMs).unref())]).then(() => undefined);
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.add(handler);
  }

  /** Best effort; false when it could not be sent (the caller may try another way). */
  async publish(channel: string, message: string): Promise<boolean> {
    if (!this.client || !this.clientAlive || this.client.status !== 'ready') return false;
    try {
      await this.client.publish(channel, message);
      if (this.publishFailing) this.logger.warn(`publish ${channel}: working again`);
      this.publishFailing = false;
      return true;
    } catch (err) {
      // Once per outage, not once per message.
      if (!this.publishFailing) this.logger.warn(`publish ${channel} failed: ${(err as Error).message}`);
      this.publishFailing = true;
      return false;
    }
  }

  /** Whether subscribed channels are being received right now. */
  get receiving(): boolean {
    return this.subscriber !== undefined && this.subscriberAlive && this.subscriber.status === 'ready';
  }

  /** Called when the subscriber connection drops or stops answering (messages stop arriving until it is back). */
  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.add(handler);
  }

  async ping(timeoutMs = 1_000): Promise<void> {
    if (!this.client) throw new Error('Redis is not configured');
    await Promise.race([
      this.client.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('Redis ping timed out')), timeoutMs).unref()),
    ]);
  }

  /** QUIT politely (bounded: Redis may be away), then stop reconnecting for good. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    if (!this.client || !this.subscriber) return;
    const quits = Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    await Promise.race([quits, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
