import { Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { AdminPoolsService } from './admin-pools.service';
import { PoolPageDto, PoolsQueryDto } from './dto/admin-pool.dto';

@ApiTags('Admin')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@Controller('sfp/api/admin/pools')
export class AdminPoolsController {
  constructor(private readonly pools: AdminPoolsService) {}

  @Get()
  @ApiOperation({
    summary: 'Pools overview: every pool with its members, free or held (and by whom), and its queue',
    description:
      'Across repositories, sorted by repository, then name; paged with limit/offset and a total. A member held by a set\'s ticket or through ' +
      'another pool shows that ticket (its `resources`, `pool`). Every role (owner, application, member) may read; a key limited to ' +
      'repository patterns sees only those repositories.',
  })
  @ApiOkResponse({ type: PoolPageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter or paging value (the message names it)' })
  @ApiForbiddenResponse({ description: 'The key may not access the repository asked for' })
  list(@CurrentPrincipal() p: Principal, @Query() query: PoolsQueryDto): Promise<PoolPageDto> {
    return this.pools.list(p, query);
  }
}
