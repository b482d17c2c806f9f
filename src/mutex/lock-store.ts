import { LockChange, Ticket, TicketMetadata, TicketSource } from './domain/ticket';
import type { BatchStats } from '../database/call-batcher';

/** Who asks for a change (recorded in the audit trail). */
export interface Actor {
  id: string;
  name: string;
}

export interface QueueInput {
  repository: string;
  /** The resources it asks for by name, all granted at once (one, or a set); none for a pool ticket. */
  resources: string[];
  /** Or `count` free members of this pool of the repository. */
  pool: { name: string; count: number } | null;
  ticketId: string;
  requesterId: string;
  requesterName: string;
  /** The lock owner a Dapr unlock must name; null for sfp tickets. */
  owner: string | null;
  source: TicketSource;
  reason: string | null;
  /** Where the ticket came from; null for none. */
  metadata: TicketMetadata | null;
  /** Whole seconds. */
  leaseSeconds: number;
  /** Give up the place in the queue after this many seconds of waiting; null waits for ever. */
  waitSeconds: number | null;
  idempotencyKey: string | null;
  /** Try-lock: only if free with nobody waiting; never leaves a ticket. */
  tryOnly: boolean;
}

/**
 * busy: a try-lock on a lock that is held or wanted. pool_name: a resource is named like a pool of
 * the repository (`name`). no_such_pool. count_too_large: the pool has only `size` members.
 */
export type QueueOutcome = 'ok' | 'busy' | 'replayed' | 'idempotency_mismatch' | 'pool_name' | 'no_such_pool' | 'count_too_large';
export type TicketOutcome = 'ok' | 'not_found' | 'ended' | 'not_holder';
/** Dapr's unlock statuses: 0 released, 1 nobody holds the lock, 2 held by another owner. */
export type UnlockStatus = 0 | 1 | 2;

/** An answer about one ticket, with what else changed in the same transaction. */
export type TicketAnswer<O extends string> = LockChange & { outcome: O; ticket?: Ticket };

/** The answer to a queue call: for pool_name the name, for count_too_large the pool's size. */
export type QueueAnswer = TicketAnswer<QueueOutcome> & { name?: string; size?: number };

export interface PoolMember {
  resource: string;
  /** The latest fencing token issued on it. */
  fence: number;
  holder: Ticket | null;
}

export interface PoolView {
  repository: string;
  name: string;
  description: string | null;
  /** In the order the owner listed them. */
  members: PoolMember[];
  /** Its waiting tickets, in order. */
  queue: Ticket[];
  createdAt: Date;
  updatedAt: Date;
}

/** name_is_resource: a resource has the pool's name; member_is_pool: a member (`name`) is a pool's name. */
export type PutPoolOutcome = 'ok' | 'name_is_resource' | 'member_is_pool';

export interface LockSummary {
  repository: string;
  resource: string;
  fence: number;
  queueLength: number;
  holder: Ticket | null;
  updatedAt: Date;
}

/**
 * The port to the lock store: every method is one atomic, linearizable change or read, and each
 * change first settles the lock it touches (an expired lease ends, a waiter past its wait limit
 * leaves, the head of a free lock's queue is granted). `now` is for tests that drive the clock:
 * the service never passes it, and the store uses its own clock.
 *
 * Adapters: PostgresLockStore (the product) and InMemoryLockStore (the pure model, for fast unit
 * tests); test/lock-store.contract.e2e-spec.ts holds both to the same scenarios.
 */
export abstract class LockStore {
  abstract queue(input: QueueInput, now?: Date): Promise<QueueAnswer>;
  /** Settles the ticket's lock when something is due, then reads the ticket. With a path, a ticket of another lock is not_found. */
  abstract settleTicket(ticketId: string, repository?: string | null, resource?: string | null, now?: Date): Promise<TicketAnswer<'ok' | 'not_found'>>;
  abstract release(ticketId: string, repository: string, resource: string, actor: Actor, now?: Date): Promise<TicketAnswer<'ok' | 'not_found' | 'ended'>>;
  abstract renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor, now?: Date): Promise<TicketAnswer<'ok' | 'not_found' | 'not_holder'>>;
  abstract clearLock(repository: string, resource: string, actor: Actor, now?: Date): Promise<LockChange>;
  /** Dapr unlock: releases the lock if `owner` holds it. */
  abstract releaseOwner(repository: string, resource: string, owner: string, actor: Actor, now?: Date): Promise<LockChange & { status: UnlockStatus }>;
  /** Creates or replaces a pool; its waiting tickets that ask for more members than it now has end 'cancelled'. */
  abstract putPool(repository: string, name: string, resources: string[], description: string | null, actor: Actor, now?: Date): Promise<LockChange & { outcome: PutPoolOutcome; created?: boolean; name?: string }>;
  /** Deletes a pool: its waiting tickets end 'cancelled'; the members its tickets hold stay held. */
  abstract deletePool(repository: string, name: string, actor: Actor, now?: Date): Promise<LockChange & { outcome: 'ok' | 'not_found' }>;
  abstract pool(repository: string, name: string): Promise<PoolView | null>;
  abstract pools(repository: string): Promise<PoolView[]>;
  /** Settles a lock (or a pool's locks) by name when something on it is due. */
  abstract settleLock(repository: string, resource: string, now?: Date): Promise<LockChange>;
  /** Settles every lock with a lease or wait limit past (at most `limit` locks). */
  abstract sweep(limit: number, now?: Date): Promise<LockChange>;
  /** Milliseconds until the earliest lease end or wait limit of any lock, by the store's clock (null: none). */
  abstract nextDeadlineIn(now?: Date): Promise<number | null>;
  /** Of a lock or a pool: holder(s) first, then the queue in order, then tickets released within `retentionSeconds`, newest first. */
  abstract list(repository: string, resource: string, retentionSeconds: number, limit: number, now?: Date): Promise<Ticket[]>;
  abstract locksIn(repository: string, limit: number): Promise<LockSummary[]>;
  /**
   * Deletes tickets released more than `retentionSeconds` ago, and renewals as old: the audit
   * goes with them. Forgets the idempotency keys of tickets released more than `keySeconds` ago
   * (the key may then be used again). Returns how many tickets it deleted.
   */
  abstract purgeReleased(retentionSeconds: number, keySeconds: number, now?: Date): Promise<number>;
  /** How concurrent operations were grouped into database calls (null: not batched). */
  abstract batchStats(): Readonly<BatchStats> | null;
}
