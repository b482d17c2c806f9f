import { Controller, Get, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiServiceUnavailableResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { MetricsService } from './metrics.service';

@ApiTags('Operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @ApiBearerAuth('api-key')
  @ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
  @ApiOperation({
    summary: 'Prometheus metrics (any role; give the scraper a member key, not limited to repositories, as its bearer token)',
    description:
      'Per lock (busiest 1,000): `queue_mutex_lock_queue_depth` (tickets naming it, alone or in a set), `queue_mutex_lock_holders`. ' +
      'Per pool (busiest 1,000): `queue_mutex_pool_members{repository,pool,state=free|held}`, `queue_mutex_pool_waiting{repository,pool}`. ' +
      'Totals: `queue_mutex_locks_held`, `queue_mutex_tickets_waiting` (each ticket once), `queue_mutex_tickets_waiting_by_kind{kind=single|set|pool}`, ' +
      '`queue_mutex_tickets_holding_by_kind{kind}`, `queue_mutex_locks_stuck` (read from PostgreSQL at scrape time: the same on every instance). ' +
      'Per instance: `queue_mutex_tickets_queued_total`, `queue_mutex_grants_total`, `queue_mutex_renewals_total`, ' +
      '`queue_mutex_releases_total{reason=released|expired|cleared|cancelled|timed_out}`, histograms `queue_mutex_wait_seconds`, ' +
      '`queue_mutex_hold_seconds` and `http_request_duration_seconds{method,route,status_code}`, plus Node.js process metrics.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4', schema: { type: 'string' } })
  @ApiForbiddenResponse({ description: 'The key is limited to repositories (metrics show every repository)' })
  @ApiServiceUnavailableResponse({ description: 'PostgreSQL cannot be reached' })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply, @CurrentPrincipal() principal: Principal): Promise<string> {
    const { contentType, body } = await this.metrics.scrape(principal);
    reply.header('content-type', contentType);
    return body;
  }
}
