import { Controller, Get, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
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
import { NameParamPipe } from '../common/params';
import { AdminResourcesService } from './admin-resources.service';
import { ResourceDetailDto, ResourcePageDto, ResourcesQueryDto, StuckQueryDto } from './dto/admin-resource.dto';
import { STUCK_RULE_DESCRIPTION } from './stuck-rule';

const READERS = 'Every role (owner, application, member) may read; a key limited to repository patterns sees only those repositories.';

@ApiTags('Admin')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@ApiForbiddenResponse({ description: 'The key may not access the repository asked for' })
@Controller('sfp/api/admin')
export class AdminResourcesController {
  constructor(private readonly resources: AdminResourcesService) {}

  @Get('resources')
  @ApiOperation({
    summary: 'Resources overview: every lock with its holder, queue and stuck flag',
    description:
      'Sorted by repository, then resource; paged with limit/offset and a total. A set\'s or pool ticket shows on each of its resources with all of them ' +
      `(\`kind\`, \`resources\`, \`pool\`, \`count\`). ${READERS} ${STUCK_RULE_DESCRIPTION}`,
  })
  @ApiOkResponse({ type: ResourcePageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter or paging value' })
  list(@CurrentPrincipal() p: Principal, @Query() query: ResourcesQueryDto): Promise<ResourcePageDto> {
    return this.resources.list(p, query);
  }

  @Get('stuck')
  @ApiOperation({ summary: 'Stuck-lock view: held locks that look stuck', description: `${STUCK_RULE_DESCRIPTION} ${READERS}` })
  @ApiOkResponse({ type: ResourcePageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter or paging value' })
  stuck(@CurrentPrincipal() p: Principal, @Query() query: StuckQueryDto): Promise<ResourcePageDto> {
    return this.resources.stuck(p, query);
  }

  @Get('resources/:repository/:resource')
  @ApiBadRequestResponse({ description: 'Invalid repository or resource name (the message names it)' })
  @ApiOperation({
    summary: 'One lock: its holder and every waiter that can use it, in the global order',
    description:
      'The queue holds the tickets naming it (alone or in a set, wherever it is in the set) and the waiting tickets of the pools it belongs to, ' +
      `in the one order that decides grants. ${READERS}`,
  })
  @ApiParam({ name: 'repository', description: 'Repository, URL-encoded (`flxbl-io%2Fsf-core`)' })
  @ApiParam({ name: 'resource' })
  @ApiOkResponse({ type: ResourceDetailDto })
  @ApiNotFoundResponse({ description: 'The lock has never been used' })
  detail(
    @CurrentPrincipal() p: Principal,
    @Param('repository', new NameParamPipe('repository')) repository: string,
    @Param('resource', new NameParamPipe('resource')) resource: string,
  ): Promise<ResourceDetailDto> {
    return this.resources.detail(p, repository, resource);
  }
}
