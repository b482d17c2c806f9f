import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';

type Handler = (message: string) => void;

/**
 * The service's own Redis connections: one for commands, one subscriber for cross-instance
 * wake-ups and cache invalidation. BullMQ keeps its own connections.
 * Redis is never the source of truth: every caller must survive a failed command.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHandlers = new Set<() => void>();

  constructor(private readonly config: AppConfig) {
    const options: RedisOptions = {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false, // fail fast while Redis is down instead of queueing forever
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      connectionName: 'queue-mutex',
    };
    this.client = new Redis(config.REDIS_URL, options);
    this.subscriber = new Redis(config.REDIS_URL, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const conn of [this.client, this.subscriber]) {
      conn.on('error', (err) => this.logger.warn(`redis: ${err.message}`));
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    // After a reconnect we may have missed messages: let listeners re-check what they wait for.
    let firstReady = true;
    this.subscriber.on('ready', () => {
      if (firstReady) {
        firstReady = false;
        return;
      }
      for (const h of this.reconnectHandlers) h();
    });
  }

  /** Namespaced key or channel name. */
  key(...parts: string[]): string {
    return [this.config.REDIS_PREFIX, ...parts].join(':');
  }

  /**
   * Listens on a channel. Resolves once subscribed, or after `waitMs` at most: with Redis down
   * the subscription goes out when it comes back (ioredis re-subscribes after every reconnect),
   * and start-up must not hang on Redis. Never rejects.
   */
  subscribe(channel: string, handler: Handler, waitMs = 2_000): Promise<void> {
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
    try {
      await this.client.publish(channel, message);
      return true;
    } catch (err) {
      this.logger.warn(`publish ${channel} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /** Whether subscribed channels are being received right now. */
  get receiving(): boolean {
    return this.subscriber.status === 'ready';
  }

  /** Called when the subscriber connection drops (messages stop arriving until it is back). */
  onDisconnect(handler: () => void): void {
    this.subscriber.on('close', handler);
  }

  async ping(timeoutMs = 1_000): Promise<void> {
    await Promise.race([
      this.client.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('Redis ping timed out')), timeoutMs).unref()),
    ]);
  }

  /** QUIT politely (bounded: Redis may be away), then stop reconnecting for good. */
  async onApplicationShutdown(): Promise<void> {
    const quits = Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
    await Promise.race([quits, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
