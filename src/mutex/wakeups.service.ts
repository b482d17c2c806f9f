import { BeforeApplicationShutdown, Injectable, OnModuleInit } from '@nestjs/common';
import { Lifecycle } from '../common/lifecycle';
import { RedisService } from '../redis/redis.service';

/**
 * Wakes long-polling requests when their ticket changes (granted or ended), on whichever
 * instance they wait: locally at once, elsewhere through Redis pub/sub. Losing a message
 * only delays a waiter until its periodic re-check.
 */
@Injectable()
export class Wakeups implements OnModuleInit, BeforeApplicationShutdown {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly channel: string;
  /** Set on shutdown: long-polls answer with what they have instead of waiting on. */
  closing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly lifecycle: Lifecycle,
  ) {
    this.channel = redis.key('ticket-changed');
  }

  async onModuleInit(): Promise<void> {
    await this.redis.subscribe(this.channel, (ticketId) => this.fire(ticketId));
    // Messages sent while we were disconnected are gone: wake everyone to re-check.
    this.redis.onReconnect(() => [...this.waiters.keys()].forEach((id) => this.fire(id)));
  }

  /** Answers every long-poll now and waits (briefly) until they are sent, before the HTTP server closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.lifecycle.closing = true;
    [...this.waiters.keys()].forEach((id) => this.fire(id));
    for (let i = 0; i < 60 && this.activePolls > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }

  /** Long-polls in progress on this instance (counted by the caller around its loop). */
  activePolls = 0;

  notify(ticketId: string): void {
    this.fire(ticketId);
    void this.redis.publish(this.channel, ticketId);
  }

  /** Resolves when the ticket is signalled, after `timeoutMs`, or on abort; whichever is first. */
  wait(ticketId: string, timeoutMs: number, signal?: AbortSignal): { promise: Promise<void>; cancel: () => void } {
    let cancel!: () => void;
    const promise = new Promise<void>((resolve) => {
      let set = this.waiters.get(ticketId);
      if (!set) {
        set = new Set();
        this.waiters.set(ticketId, set);
      }
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const s = this.waiters.get(ticketId);
        s?.delete(done);
        if (s && s.size === 0) this.waiters.delete(ticketId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', done);
      set.add(done);
      cancel = done;
    });
    return { promise, cancel };
  }

  private fire(ticketId: string): void {
    const set = this.waiters.get(ticketId);
    if (!set) return;
    for (const done of [...set]) done();
  }

  get waiting(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}
