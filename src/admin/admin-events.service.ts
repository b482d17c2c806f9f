import { BadRequestException, ForbiddenException, Injectable } from '@nestjs/common';
import { Principal, repositoryAllowed } from '../auth/principal';
import { EventDto, EventPageDto, EventsQueryDto, EventType } from './dto/admin-event.dto';
import { LockEventQueries } from './lock-event.queries';
import { patternsToLike } from './repository-patterns';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The audit trail, newest first, limited to the repositories the caller's key may read. */
@Injectable()
export class AdminEventsService {
  constructor(private readonly events: LockEventQueries) {}

  async list(p: Principal, q: EventsQueryDto): Promise<EventPageDto> {
    if (q.repository !== undefined && !repositoryAllowed(p.repositories, q.repository)) {
      throw new ForbiddenException(`This key may not access repository '${q.repository}'`);
    }
    const from = q.from ? new Date(q.from) : undefined;
    const to = q.to ? new Date(q.to) : undefined;
    if (from && to && from > to) throw new BadRequestException('from must not be after to');
    const limit = q.limit ?? 100;
    // An actor is either a user id or a name (expiries and time-outs are by `system`).
    const actorIsId = q.actor !== undefined && UUID.test(q.actor);
    // One extra row tells whether another page follows.
    const rows = await this.events.page(
      {
        repositoryLike: patternsToLike(p.repositories),
        repository: q.repository,
        resource: q.resource,
        pool: q.pool,
        actorId: actorIsId ? q.actor : undefined,
        actorName: actorIsId ? undefined : q.actor,
        types: q.type,
        from,
        to,
        before: q.cursor,
      },
      limit + 1,
    );
    const more = rows.length > limit;
    const items: EventDto[] = rows.slice(0, limit).map((r) => ({
      id: r.id,
      type: r.type as EventType,
      repository: r.repository,
      resource: r.resource,
      resources: r.resources,
      pool: r.pool,
      ticketId: r.ticketId,
      actor: { id: r.actorId, name: r.actorName },
      fencingToken: r.fencingToken,
      reason: r.reason,
      metadata: r.metadata,
      at: r.at.toISOString(),
    }));
    return { items, nextCursor: more ? String(items[items.length - 1].id) : null, limit };
  }
}
