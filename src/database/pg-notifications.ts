import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { AppConfig, databaseUrlOf } from '../config/app-config';
import { PgPool } from './pg-pool';

type Handler = (payload: string) => void;

/** NOTIFY carries at most 8,000 bytes. */
const MAX_PAYLOAD_BYTES = 7_999;

/**
 * PostgreSQL LISTEN/NOTIFY: the fallback channel for messages between instances when Redis
 * cannot carry them (see Wakeups). One dedicated connection per instance listens; it reconnects
 * on its own, and tells `onReconnect` listeners that messages may have been missed meanwhile.
 * Never blocks start-up and never throws at callers: a lost message costs a periodic re-check.
 */
@Injectable()
export class PgNotifications implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PgNotifications.name);
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHandlers = new Set<() => void>();
  private client?: Client;
  private retry?: NodeJS.Timeout;
  private attempts = 0;
  private stopped = false;
  private connectedOnce = false;

  constructor(
    private readonly config: AppConfig,
    private readonly pool: PgPool,
  ) {}

  onModuleInit(): void {
    void this.connect();
  }

  /** Listens on a channel (a plain identifier); takes effect now if connected, else on connect. */
  listen(channel: string, handler: Handler): void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      this.client?.query(`LISTEN ${channel}`).catch((err) => this.logger.warn(`LISTEN ${channel}: ${err.message}`));
    }
    set.add(handler);
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.add(handler);
  }

  /** Best effort; false when the message could not be sent (or is too long for NOTIFY). */
  async notify(channel: string, payload: string): Promise<boolean> {
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) return false;
    try {
      await this.pool.query('pg_notify', 'SELECT pg_notify($1, $2)', [channel, payload]);
      return true;
    } catch (err) {
      this.logger.warn(`NOTIFY ${channel} failed: ${(err as Error).message}`);
      return false;
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: databaseUrlOf(this.config), application_name: 'queue-mutex-listen', keepAlive: true });
    client.on('notification', (msg) => {
      for (const handler of this.handlers.get(msg.channel) ?? []) if (msg.payload !== undefined) handler(msg.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.stopped) return void client.end().catch(() => undefined);
    this.client = client;
    this.attempts = 0;
    if (this.connectedOnce) for (const h of this.reconnectHandlers) h();
    this.connectedOnce = true;
  }

  /** The connection failed or ended: retry with a growing pause (at most 2 s). */
  private lost(client: Client, err?: Error): void {
    if (this.client === client) this.client = undefined;
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.stopped || this.retry) return;
    if (err && this.attempts === 0) this.logger.warn(`listen connection lost: ${err.message}`);
    this.attempts++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, Math.min(this.attempts * 200, 2_000));
    this.retry.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
  }
}
