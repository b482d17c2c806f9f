import { Ticket } from './domain/ticket';
import { TicketDto } from './dto/lock.dto';
import { PoolDto } from './dto/pool.dto';
import { PoolView } from './lock-store';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * The sfp wire form of a ticket. A released ticket's queuePosition is undefined, which JSON
 * leaves out (deleting the key instead would turn every such object into a slow dictionary).
 */
export function toTicketDto(t: Ticket): TicketDto {
  return {
    id: t.id,
    ticketId: t.id,
    repository: t.repository,
    resource: t.resource,
    resources: [...t.resources],
    pool: t.pool,
    count: t.lockCount,
    status: t.status,
    queuePosition: t.status === 'released' ? undefined : (t.queuePosition ?? undefined),
    leaseStart: iso(t.leaseStart),
    leaseDurationSeconds: t.leaseDurationSeconds,
    leaseExpiresAt: iso(t.leaseExpiresAt),
    fencingToken: t.fencingToken,
    fencingTokens: { ...t.fencingTokens },
    requestedBy: { id: t.requesterId, name: t.requesterName },
    reason: t.reason,
    metadata: { ...t.metadata },
    waitTimeoutAt: iso(t.waitDeadline),
    releaseReason: t.releaseReason,
    releasedAt: iso(t.releasedAt),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

/** The wire form of a pool, with each member's state and the pool's queue. */
export function toPoolDto(p: PoolView): PoolDto {
  const members = p.members.map((m) => ({ resource: m.resource, state: m.holder ? ('held' as const) : ('free' as const), holder: m.holder ? toTicketDto(m.holder) : null, lastFencingToken: m.fence }));
  const held = members.filter((m) => m.state === 'held').length;
  return {
    repository: p.repository,
    name: p.name,
    description: p.description,
    size: members.length,
    free: members.length - held,
    held,
    members,
    queue: p.queue.map(toTicketDto),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
