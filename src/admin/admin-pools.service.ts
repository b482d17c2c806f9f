import { ForbiddenException, Injectable } from '@nestjs/common';
import { Principal, repositoryAllowed } from '../auth/principal';
import { toPoolDto } from '../mutex/ticket.mapper';
import { PoolPageDto, PoolsQueryDto } from './dto/admin-pool.dto';
import { PoolOverviewQueries } from './pool-overview.queries';
import { patternsToLike } from './repository-patterns';

/** The pools of every repository the caller's key may read, with their members and queues. */
@Injectable()
export class AdminPoolsService {
  constructor(private readonly pools: PoolOverviewQueries) {}

  async list(p: Principal, q: PoolsQueryDto): Promise<PoolPageDto> {
    if (q.repository !== undefined && !repositoryAllowed(p.repositories, q.repository)) {
      throw new ForbiddenException(`This key may not access repository '${q.repository}'`);
    }
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const page = await this.pools.page(
      { repositoryLike: patternsToLike(p.repositories), repository: q.repository, prefix: q.prefix, contains: q.contains, active: q.active },
      limit,
      offset,
    );
    return { total: page.total, limit, offset, at: page.at.toISOString(), items: page.pools.map(toPoolDto) };
  }
}
