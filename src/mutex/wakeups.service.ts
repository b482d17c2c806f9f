import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common';
import { Lifecycle } from '../common/lifecycle';
import { AppConfig } from '../config/app-config';
import { PgNotifications } from '../database/pg-notifications';
import { RedisService } from '../redis/redis.service';
import { Ticket, ticketFromWire } from './domain/ticket';

/** How often a long-poll re-reads its ticket while this instance cannot hear Redis. */
const DEGRADED_RECHECK_MS = 100;

/** The PostgreSQL channel for wake-ups that Redis could not carry. */
const PG_CHANNEL = 'queue_mutex_ticket_changed';

/**
 * Wakes long-polling requests when their ticket changes (granted or ended), on whichever
 * instance they wait: locally at once, elsewhere through Redis pub/sub. The message carries
 * the ticket as committed, so the waiter answers without reading it again. Losing a message
 * only delays a waiter until its periodic re-check.
 *
 * Without Redis configured, every wake-up for another instance goes through PostgreSQL NOTIFY.
 * One instance losing Redis must not slow the others' hand-offs: what it cannot publish goes
 * through PostgreSQL NOTIFY instead (every instance listens there too), and while it cannot hear
 * Redis its own long-polls re-read every 100 ms rather than every LONG_POLL_RECHECK_MS.
 */
@Injectable()
export class Wakeups implements OnModuleInit, BeforeApplicationShutdown {
  private readonly waiters = new Map<string, Set<(ticket?: Ticket) => void>>();
  private readonly channel: string;

  constructor(
    private readonly redis: RedisService,
    private readonly pg: PgNotifications,
    private readonly lifecycle: Lifecycle,
    private readonly config: AppConfig,
  ) {
    this.channel = redis.key('ticket-changed');
  }

  async onModuleInit(): Promise<void> {
    const onMessage = (message: string) => {
      const ticket = ticketFromWire(message);
      if (ticket) this.fire(ticket.id, ticket);
    };
    this.pg.listen(PG_CHANNEL, onMessage);
    await this.redis.subscribe(this.channel, onMessage);
    // Messages sent while we were disconnected are gone: wake everyone to re-check (and, with
    // Redis gone, to start re-reading at the shorter period).
    const recheckAll = () => [...this.waiters.keys()].forEach((id) => this.fire(id));
    this.redis.onReconnect(recheckAll);
    this.redis.onDisconnect(recheckAll);
    this.pg.onReconnect(recheckAll);
  }

  /**
   * How long a long-poll waits for a wake-up before it re-reads its ticket anyway. Without Redis
   * configured, wake-ups from elsewhere come through PostgreSQL as a matter of course.
   */
  get recheckMs(): number {
    return !this.redis.configured || this.redis.receiving ? this.config.LONG_POLL_RECHECK_MS : Math.min(DEGRADED_RECHECK_MS, this.config.LONG_POLL_RECHECK_MS);
  }

  /** Shutting down: long-polls answer with what they have instead of waiting on. */
  get closing(): boolean {
    return this.lifecycle.closing;
  }

  /** Answers every long-poll now and waits (briefly) until they are sent, before the HTTP server closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.lifecycle.closing = true;
    [...this.waiters.keys()].forEach((id) => this.fire(id));
    for (let i = 0; i < 60 && this.activePolls > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** Long-polls in progress on this instance (counted by the caller around its loop). */
  activePolls = 0;

  /**
   * The ticket was granted or ended: wake whoever long-polls it, here or on other instances.
   * A ticket is long-polled by one client; when that poll is here, nobody needs the broadcast
   * (a second, concurrent poll elsewhere would still see the change at its next re-check).
   */
  notify(ticket: Ticket): void {
    if (this.fire(ticket.id, ticket)) {
      this.stats.local++;
      return;
    }
    const message = JSON.stringify(ticket);
    void this.redis.publish(this.channel, message).then(async (sent) => {
      if (sent) this.stats.redis++;
      else if (await this.pg.notify(PG_CHANNEL, message)) this.stats.postgres++;
      else this.stats.lost++;
    });
  }

  /** Wake-ups sent: to a waiter here, through Redis, through PostgreSQL (Redis failed), or lost (both failed). */
  readonly stats = { local: 0, redis: 0, postgres: 0, lost: 0 };

  /**
   * Resolves when the ticket is signalled (with its new state), after `timeoutMs`, or on abort
   * (with nothing); whichever is first.
   */
  wait(ticketId: string, timeoutMs: number, signal?: AbortSignal): { promise: Promise<Ticket | undefined>; cancel: () => void } {
    let cancel!: () => void;
    const promise = new Promise<Ticket | undefined>((resolve) => {
      let set = this.waiters.get(ticketId);
      if (!set) {
        set = new Set();
        this.waiters.set(ticketId, set);
      }
      const done = (ticket?: Ticket) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const s = this.waiters.get(ticketId);
        s?.delete(done);
        if (s && s.size === 0) this.waiters.delete(ticketId);
        resolve(ticket);
      };
      const onAbort = () => done();
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort);
      set.add(done);
      cancel = () => done();
    });
    return { promise, cancel };
  }

  /** Wakes this instance's waiters on the ticket; false when there were none. */
  private fire(ticketId: string, ticket?: Ticket): boolean {
    const set = this.waiters.get(ticketId);
    if (!set) return false;
    for (const done of [...set]) done(ticket);
    return true;
  }
}
