import { ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { Principal, repositoryAllowed } from '../auth/principal';
import { ResourceDetailDto, ResourceDto, ResourcePageDto, ResourcesQueryDto, StuckQueryDto, WaiterDto } from './dto/admin-resource.dto';
import { LockFilter, LockOverviewQueries, LockRow, TicketScope, WaiterRow } from './lock-overview.queries';
import { patternsToLike } from './repository-patterns';

const QUEUE_LIMIT = 1_000;
const seconds = (ms: number) => Math.round(ms / 1_000);

/** Resources overview and stuck-lock view, limited to the repositories the caller's key may read. */
@Injectable()
export class AdminResourcesService {
  constructor(private readonly locks: LockOverviewQueries) {}

  async list(p: Principal, q: ResourcesQueryDto): Promise<ResourcePageDto> {
    if (q.repository !== undefined) this.assertAccess(p, q.repository);
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const filter: LockFilter = {
      repositoryLike: patternsToLike(p.repositories),
      repository: q.repository,
      prefix: q.prefix,
      contains: q.contains,
      held: q.held,
      active: q.active,
      stuck: q.stuck,
    };
    const page = await this.locks.page(filter, limit, offset);
    return { total: page.total, limit, offset, at: page.at.toISOString(), items: page.rows.map((r) => toResource(r, page.at)) };
  }

  stuck(p: Principal, q: StuckQueryDto): Promise<ResourcePageDto> {
    return this.list(p, { ...q, stuck: true });
  }

  async detail(p: Principal, repository: string, resource: string): Promise<ResourceDetailDto> {
    this.assertAccess(p, repository);
    const page = await this.locks.page({ repositoryLike: null, repository, resource }, 1, 0);
    const row = page.rows[0];
    if (!row) throw new NotFoundException(`No lock ${repository}/${resource} has been used yet`);
    const queue = row.queueLength + row.poolWaiters > 0 ? await this.locks.queue(row.lockId, row.resource, QUEUE_LIMIT) : [];
    return { ...toResource(row, page.at), queue: queue.map((w, i) => toWaiter(w, i + 1, page.at)) };
  }

  private assertAccess(p: Principal, repository: string): void {
    if (!repositoryAllowed(p.repositories, repository)) {
      throw new ForbiddenException(`This key may not access repository '${repository}'`);
    }
  }
}

const scope = (t: TicketScope) => ({ kind: t.kind, resources: [...t.resources], pool: t.pool, count: t.count });

function toWaiter(w: WaiterRow, position: number, at: Date): WaiterDto {
  return {
    ...scope(w),
    ticketId: w.ticketId,
    position,
    requestedBy: { id: w.requesterId, name: w.requesterName },
    since: w.createdAt.toISOString(),
    waitSeconds: seconds(at.getTime() - w.createdAt.getTime()),
    waitTimeoutAt: w.waitDeadline ? w.waitDeadline.toISOString() : null,
    leaseDurationSeconds: w.leaseDurationSeconds,
    reason: w.reason,
    metadata: w.metadata,
  };
}

export function toResource(r: LockRow, at: Date): ResourceDto {
  const h = r.holder;
  const next = r.nextWaiter ? toWaiter(r.nextWaiter, 1, at) : null;
  return {
    repository: r.repository,
    resource: r.resource,
    state: r.stuckReason ? 'stuck' : h ? 'held' : 'free',
    holder: h
      ? {
          ...scope(h),
          ticketId: h.ticketId,
          requestedBy: { id: h.requesterId, name: h.requesterName },
          since: h.leaseStart.toISOString(),
          heldSeconds: seconds(at.getTime() - h.leaseStart.getTime()),
          leaseExpiresAt: h.leaseExpiresAt.toISOString(),
          leaseRemainingSeconds: seconds(h.leaseExpiresAt.getTime() - at.getTime()),
          leaseDurationSeconds: h.leaseDurationSeconds,
          renewedAt: h.renewedAt ? h.renewedAt.toISOString() : null,
          fencingToken: h.fencingToken,
          reason: h.reason,
          metadata: h.metadata,
          source: h.source,
        }
      : null,
    queueLength: r.queueLength,
    pools: r.pools,
    poolWaiters: r.poolWaiters,
    nextWaiter: next,
    oldestWaitSeconds: next ? next.waitSeconds : null,
    lastFencingToken: r.fence,
    stuck: r.stuckReason !== null,
    stuckReason: r.stuckReason,
    updatedAt: r.updatedAt.toISOString(),
  };
}
