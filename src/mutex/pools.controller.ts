import { Body, Controller, Delete, Get, Param, Put } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Roles } from '../auth/roles.decorator';
import { NameParamPipe } from '../common/params';
import { DeletedPoolDto, PoolDto, PutPoolDto } from './dto/pool.dto';
import { MutexService } from './mutex.service';
import { toPoolDto, toTicketDto } from './ticket.mapper';

const repoParam = new NameParamPipe('repository');
const poolParam = new NameParamPipe('pool');

/**
 * Pools: named sets of resources of a repository, of which a ticket asks for `count` free members
 * (POST /sfp/api/locks with `pool`). Owners define them; every role may read them.
 */
@ApiTags('Pools')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@ApiForbiddenResponse({ description: 'Forbidden - Requires role: owner (to change a pool), or the key may not access this repository' })
@ApiParam({ name: 'repository', required: true, description: 'Repository, URL-encoded (`flxbl-io%2Fsf-core`)' })
@ApiBadRequestResponse({ description: 'Invalid path parameter or body (the message names it)' })
@Controller('sfp/api/pools')
export class PoolsController {
  constructor(private readonly mutex: MutexService) {}

  @Get(':repository')
  @Roles('owner', 'application', 'member')
  @ApiOperation({ summary: 'All pools of a repository', description: 'By name, each with its members (free or held, and by whom) and its queue.' })
  @ApiOkResponse({ type: [PoolDto] })
  async list(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string): Promise<PoolDto[]> {
    return (await this.mutex.pools(p, repository)).map(toPoolDto);
  }

  @Get(':repository/:pool')
  @Roles('owner', 'application', 'member')
  @ApiOperation({ summary: 'One pool: its members, free or held, and its queue' })
  @ApiOkResponse({ type: PoolDto })
  @ApiNotFoundResponse({ description: 'No such pool' })
  async get(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('pool', poolParam) pool: string): Promise<PoolDto> {
    return toPoolDto(await this.mutex.pool(p, repository, pool));
  }

  @Put(':repository/:pool')
  @Roles('owner')
  @ApiOperation({
    summary: 'Create or replace a pool',
    description:
      'Its members are resources of the repository (created on first use). Waiting pool tickets that ask for more members than it now has end `cancelled`; ' +
      'members held stay held. A pool and a resource may not share a name in a repository (409).',
  })
  @ApiOkResponse({ type: PoolDto })
  @ApiConflictResponse({ description: 'The pool\'s name is a resource\'s, or a member\'s name is a pool\'s' })
  async put(
    @CurrentPrincipal() p: Principal,
    @Param('repository', repoParam) repository: string,
    @Param('pool', poolParam) pool: string,
    @Body() dto: PutPoolDto,
  ): Promise<PoolDto> {
    return toPoolDto((await this.mutex.putPool(p, repository, pool, dto.resources, dto.description ?? null)).pool);
  }

  @Delete(':repository/:pool')
  @Roles('owner')
  @ApiOperation({ summary: 'Delete a pool', description: 'Its waiting tickets end `cancelled`; members its tickets hold stay held until released.' })
  @ApiOkResponse({ type: DeletedPoolDto })
  @ApiNotFoundResponse({ description: 'No such pool' })
  async delete(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('pool', poolParam) pool: string): Promise<DeletedPoolDto> {
    const cancelled = await this.mutex.deletePool(p, repository, pool);
    return { deleted: pool, cancelled: cancelled.length, tickets: cancelled.map(toTicketDto) };
  }
}
