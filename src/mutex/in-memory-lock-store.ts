import { LockChange, Ticket } from './domain/ticket';
import * as machine from './domain/lock-store.machine';
import { Actor, LockStore, LockSummary, PoolView, PutPoolOutcome, QueueAnswer, QueueInput, TicketAnswer, UnlockStatus } from './lock-store';

const date = (ms: number | null) => (ms === null ? null : new Date(ms));

/** The domain Ticket of a machine view (times as Dates). */
export function ticketOfView(v: machine.TicketView): Ticket {
  return {
    ...v,
    metadata: v.metadata ?? {},
    waitDeadline: date(v.waitDeadline),
    leaseStart: date(v.leaseStart),
    leaseExpiresAt: date(v.leaseExpiresAt),
    renewedAt: date(v.renewedAt),
    releasedAt: date(v.releasedAt),
    createdAt: new Date(v.createdAt),
    updatedAt: new Date(v.updatedAt),
  };
}

/**
 * The lock store as the pure state machine of domain/lock-store.machine.ts, in memory: the model
 * the contract tests hold PostgreSQL to, and a fast store for unit tests of what sits on the port
 * (MutexService). One process, no durability. Its clock is injectable; an operation's `now`
 * overrides it.
 */
export class InMemoryLockStore extends LockStore {
  state: machine.StoreState = machine.emptyStore;
  /** The audit trail, in order (in SQL: the tickets' events and lock_events, mutex_audit_trail). */
  readonly audit: machine.AuditEffect[] = [];

  constructor(private readonly clock: () => Date = () => new Date()) {
    super();
  }

  private ms(now?: Date): number {
    return (now ?? this.clock()).getTime();
  }

  /** Keeps the new state and audit rows; the change lists as the SQL answers them. */
  private commit<A>(step: machine.Step<A>): LockChange & { answer: A } {
    this.state = step.state;
    this.audit.push(...step.audit);
    return { answer: step.answer, granted: step.granted.map(ticketOfView), ended: step.ended.map(ticketOfView) };
  }

  private ticketAnswer<O extends string>(step: machine.Step<{ outcome: O; ticket?: machine.TicketView }>): TicketAnswer<O> {
    const { answer, granted, ended } = this.commit(step);
    return { outcome: answer.outcome, ticket: answer.ticket ? ticketOfView(answer.ticket) : undefined, granted, ended };
  }

  async queue(input: QueueInput, now?: Date): Promise<QueueAnswer> {
    const { answer, granted, ended } = this.commit(machine.queueTicket(this.state, input, this.ms(now)));
    return {
      outcome: answer.outcome,
      ticket: 'ticket' in answer ? ticketOfView(answer.ticket) : undefined,
      name: 'name' in answer ? answer.name : undefined,
      size: 'size' in answer ? answer.size : undefined,
      granted,
      ended,
    };
  }

  async settleTicket(ticketId: string, repository: string | null = null, resource: string | null = null, now?: Date) {
    return this.ticketAnswer(machine.settleTicket(this.state, ticketId, repository, resource, this.ms(now)));
  }

  async release(ticketId: string, repository: string, resource: string, actor: Actor, now?: Date) {
    return this.ticketAnswer(machine.releaseTicket(this.state, ticketId, repository, resource, actor, this.ms(now)));
  }

  async renew(ticketId: string, repository: string, resource: string, leaseSeconds: number | null, actor: Actor, now?: Date) {
    return this.ticketAnswer(machine.renewTicket(this.state, ticketId, repository, resource, leaseSeconds, actor, this.ms(now)));
  }

  async clearLock(repository: string, resource: string, actor: Actor, now?: Date): Promise<LockChange> {
    const { granted, ended } = this.commit(machine.clearLock(this.state, repository, resource, actor, this.ms(now)));
    return { granted, ended };
  }

  async releaseOwner(repository: string, resource: string, owner: string, actor: Actor, now?: Date): Promise<LockChange & { status: UnlockStatus }> {
    const { answer, granted, ended } = this.commit(machine.releaseOwner(this.state, repository, resource, owner, actor, this.ms(now)));
    return { status: answer, granted, ended };
  }

  async putPool(repository: string, name: string, resources: string[], description: string | null, actor: Actor, now?: Date) {
    const { answer, granted, ended } = this.commit(machine.putPool(this.state, repository, name, resources, description, actor, this.ms(now)));
    return {
      outcome: answer.outcome as PutPoolOutcome,
      created: 'created' in answer ? answer.created : undefined,
      name: 'name' in answer ? answer.name : undefined,
      granted,
      ended,
    };
  }

  async deletePool(repository: string, name: string, actor: Actor, now?: Date) {
    const { answer, granted, ended } = this.commit(machine.deletePool(this.state, repository, name, actor, this.ms(now)));
    return { outcome: answer, granted, ended };
  }

  async pool(repository: string, name: string): Promise<PoolView | null> {
    const v = machine.poolView(this.state, repository, name);
    if (!v) return null;
    return {
      repository: v.pool.repository,
      name: v.pool.name,
      description: v.pool.description,
      members: v.members.map((m) => ({ resource: m.lock.resource, fence: m.lock.fence, holder: m.holder ? ticketOfView(m.holder) : null })),
      queue: v.queue.map(ticketOfView),
      createdAt: new Date(v.pool.createdAt),
      updatedAt: new Date(v.pool.updatedAt),
    };
  }

  async pools(repository: string): Promise<PoolView[]> {
    const names = Object.values(this.state.pools)
      .filter((p) => p.repository === repository)
      .map((p) => p.name)
      .sort();
    return Promise.all(names.map((n) => this.pool(repository, n).then((p) => p!)));
  }

  async settleLock(repository: string, resource: string, now?: Date): Promise<LockChange> {
    const { granted, ended } = this.commit(machine.settleLock(this.state, repository, resource, this.ms(now)));
    return { granted, ended };
  }

  async sweep(limit: number, now?: Date): Promise<LockChange> {
    const { granted, ended } = this.commit(machine.sweep(this.state, limit, this.ms(now)));
    return { granted, ended };
  }

  async nextDeadlineIn(now?: Date): Promise<number | null> {
    return machine.nextDeadlineIn(this.state, this.ms(now));
  }

  async list(repository: string, resource: string, retentionSeconds: number, limit: number, now?: Date): Promise<Ticket[]> {
    return machine.listLock(this.state, repository, resource, retentionSeconds, limit, this.ms(now)).map(ticketOfView);
  }

  async locksIn(repository: string, limit: number): Promise<LockSummary[]> {
    return machine.locksIn(this.state, repository, limit).map(({ lock, queueLength, holder }) => ({
      repository: lock.repository,
      resource: lock.resource,
      fence: lock.fence,
      queueLength,
      holder: holder ? ticketOfView(holder) : null,
      updatedAt: new Date(lock.updatedAt),
    }));
  }

  async purgeReleased(retentionSeconds: number, keySeconds: number, now?: Date): Promise<number> {
    const purged = this.commit(machine.purgeReleased(this.state, retentionSeconds, keySeconds, this.ms(now))).answer;
    // A ticket's events go with it; renewals by age.
    const before = this.ms(now) - retentionSeconds * 1000;
    const kept = this.audit.filter((a) => (a.type === 'renewed' ? a.at >= before : this.state.tickets[a.ticketId] !== undefined));
    this.audit.splice(0, this.audit.length, ...kept);
    return purged;
  }

  batchStats(): null {
    return null;
  }
}
