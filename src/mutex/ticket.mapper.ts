import { Ticket } from './domain/ticket';
import { TicketDto } from './dto/lock.dto';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The sfp wire form of a ticket. */
export function toTicketDto(t: Ticket): TicketDto {
  const dto: TicketDto = {
    id: t.id,
    ticketId: t.id,
    repository: t.repository,
    resource: t.resource,
    status: t.status,
    queuePosition: t.queuePosition ?? undefined,
    leaseStart: iso(t.leaseStart),
    leaseDurationSeconds: t.leaseDurationSeconds,
    leaseExpiresAt: iso(t.leaseExpiresAt),
    fencingToken: t.fencingToken,
    requestedBy: { id: t.requesterId, name: t.requesterName },
    reason: t.reason,
    metadata: { ...t.metadata },
    waitTimeoutAt: iso(t.waitDeadline),
    releaseReason: t.releaseReason,
    releasedAt: iso(t.releasedAt),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
  if (t.status === 'released') delete dto.queuePosition;
  return dto;
}
