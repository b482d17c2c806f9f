import { Controller, Get, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { AdminEventsService } from './admin-events.service';
import { EventPageDto, EventsQueryDto } from './dto/admin-event.dto';

@ApiTags('Admin')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@Controller('sfp/api/admin/events')
export class AdminEventsController {
  constructor(private readonly events: AdminEventsService) {}

  @Get()
  @ApiOperation({
    summary: 'Audit trail: every lock transition with actor, time, fencing token and reason',
    description:
      'Newest first. Page with `cursor` = the previous page\'s `nextCursor`. A set\'s or pool ticket\'s event names all its resources ' +
      '(`resources`) and its pool; `resource` finds it under any of them, `pool` under its pool. Every role may read; ' +
      'a key limited to repository patterns sees only those repositories.',
  })
  @ApiOkResponse({ type: EventPageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter (type, from/to, cursor, limit)' })
  @ApiForbiddenResponse({ description: 'The key may not access the repository asked for' })
  list(@CurrentPrincipal() p: Principal, @Query() query: EventsQueryDto): Promise<EventPageDto> {
    return this.events.list(p, query);
  }
}
