import { Injectable, NotFoundException } from '@nestjs/common';
import { Principal } from '../auth/principal';
import { AppConfig } from '../config/app-config';
import { Ticket } from '../mutex/domain/ticket';
import { MutexService } from '../mutex/mutex.service';
import { LockSummary } from '../mutex/lock-store';
import { SyncLockInfoDto, SyncLockResultDto, SyncUnlockResultDto } from './dto/synchronize.dto';

/** Every synchronize user's locks live in this private namespace (a mutex repository). */
export const synchronizeNamespace = (userId: string): string => `synchronize/${userId}`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** The requester given at lock time; tickets from other APIs fall back to the key's name. */
const leasedBy = (t: Ticket) => t.owner ?? t.requesterName;

/**
 * The synchronize lock API on top of MutexService. The only logic here is scoping: the caller
 * acts on its own namespace and nothing else, whatever its role or repository patterns, so
 * the same lockName never meets another user's lock.
 */
@Injectable()
export class SynchronizeService {
  constructor(
    private readonly mutex: MutexService,
    private readonly config: AppConfig,
  ) {}

  async lock(p: Principal, lockName: string, requester: string): Promise<SyncLockResultDto> {
    const { principal, namespace } = this.scope(p);
    const ticket = await this.mutex.tryLock(principal, {
      repository: namespace,
      resource: lockName,
      owner: requester,
      // The API has no lease field; a configured lease keeps a crashed client from holding forever.
      leaseSeconds: Math.min(this.config.SYNCHRONIZE_LEASE_SECONDS, this.config.MAX_LEASE_SECONDS),
      source: 'synchronize',
    });
    if (ticket) {
      return { locked: true, leaseId: ticket.id, message: `Lock '${lockName}' acquired by ${requester} until ${iso(ticket.leaseExpiresAt)}` };
    }
    // Only to name the holder in the message; it may have let go in between.
    const holder = await this.holder(principal, namespace, lockName);
    return {
      locked: false,
      message: holder
        ? `Lock '${lockName}' is held by ${leasedBy(holder)} until ${iso(holder.leaseExpiresAt)}`
        : `Lock '${lockName}' is busy; try again`,
    };
  }

  async info(p: Principal, lockName: string): Promise<SyncLockInfoDto> {
    const { principal, namespace } = this.scope(p);
    // Holder first; otherwise the latest ended ticket tells when the lock last changed.
    const [latest] = await this.mutex.list(principal, namespace, lockName, 1);
    const holder = latest?.status === 'acquired' ? latest : null;
    return toInfo(lockName, holder, latest?.updatedAt ?? null);
  }

  async unlock(p: Principal, lockName: string, leaseId: string): Promise<SyncUnlockResultDto> {
    const { principal, namespace } = this.scope(p);
    if (!UUID.test(leaseId)) throw leaseNotFound(lockName);
    const outcome = await this.mutex.releaseLease(principal, namespace, lockName, leaseId);
    if (outcome === 'not_found') throw leaseNotFound(lockName);
    if (outcome === 'ended') return { unlocked: false, message: 'This lease has already ended (released or expired)' };
    return { unlocked: true };
  }

  async list(p: Principal): Promise<SyncLockInfoDto[]> {
    const { principal, namespace } = this.scope(p);
    const locks = await this.mutex.locksIn(principal, namespace);
    const now = Date.now();
    return locks.map((l: LockSummary) => {
      // locksIn reads without settling: a lease that ran out a moment ago is already free.
      const live = l.holder && (!l.holder.leaseExpiresAt || l.holder.leaseExpiresAt.getTime() > now) ? l.holder : null;
      return toInfo(l.resource, live, l.updatedAt);
    });
  }

  /** A principal that may touch the caller's own namespace and nothing else. */
  private scope(p: Principal): { principal: Principal; namespace: string } {
    const namespace = synchronizeNamespace(p.userId);
    return { principal: { ...p, repositories: [namespace] }, namespace };
  }

  private async holder(p: Principal, namespace: string, lockName: string): Promise<Ticket | null> {
    const [first] = await this.mutex.list(p, namespace, lockName, 1);
    return first?.status === 'acquired' ? first : null;
  }
}

function toInfo(lockName: string, holder: Ticket | null, updatedAt: Date | null): SyncLockInfoDto {
  return {
    lockName,
    locked: holder !== null,
    leaseId: holder?.id ?? null,
    leasedBy: holder ? leasedBy(holder) : null,
    createdAt: iso(holder?.createdAt),
    updatedAt: iso(holder?.updatedAt ?? updatedAt),
    expiresAt: iso(holder?.leaseExpiresAt),
  };
}

function leaseNotFound(lockName: string): NotFoundException {
  return new NotFoundException(`Lease not found for lock '${lockName}'`);
}
