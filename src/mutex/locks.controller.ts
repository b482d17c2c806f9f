import { applyDecorators, BadRequestException, Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Roles } from '../auth/roles.decorator';
import { NameParamPipe, uuidParam } from '../common/params';
import { AcquireQueryDto, AcquireResultDto, ClearResultDto, QueueLockDto, RenewLockDto, TicketDto } from './dto/lock.dto';
import { MutexService } from './mutex.service';
import { toTicketDto } from './ticket.mapper';

const repoParam = new NameParamPipe('repository');
const resourceParam = new NameParamPipe('resource');
const ticketParam = uuidParam('ticketId');

/** OpenAPI for routes under `{repository}/{resource}`: the encoded repository, and the 400 of a bad path or input. */
const LockPath = () =>
  applyDecorators(
    ApiParam({ name: 'repository', required: true, description: 'Repository, URL-encoded (`flxbl-io%2Fsf-core`)' }),
    ApiBadRequestResponse({ description: 'Invalid path parameter, query or body (the message names it)' }),
  );

/** The sfp server Locks API: a thin mapping of HTTP onto MutexService. */
@ApiTags('Locks')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@ApiForbiddenResponse({ description: 'Forbidden - Requires role: owner, application (or the key may not access this repository)' })
@Roles('owner', 'application')
@Controller('sfp/api/locks')
export class LocksController {
  constructor(private readonly mutex: MutexService) {}

  @Post()
  @ApiOperation({
    summary: 'Queue a lock for a resource, several resources, or members of a pool',
    description:
      'Queues a ticket in the one global order; granted at once when all it needs is free and no earlier waiter can use any of it. ' +
      'Give exactly one of `resource`, `resources` (all granted together, or none) or `pool` (with `count`, default 1).',
  })
  @ApiBody({
    type: QueueLockDto,
    examples: {
      resource: { summary: 'One resource', value: { repository: 'flxbl-io/sf-core', resource: 'uat', leaseDurationSeconds: 900, reason: 'release 42' } },
      resources: { summary: 'Several resources at once', value: { repository: 'flxbl-io/sf-core', resources: ['sf-core-source', 'sf-core-uat'], leaseDurationSeconds: 900 } },
      pool: { summary: 'Any free member of a pool', value: { repository: 'flxbl-io/sf-core', pool: 'uat-orgs', count: 1, leaseDurationSeconds: 1800, waitTimeoutSeconds: 3600 } },
    },
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, schema: { type: 'string', minLength: 1, maxLength: 200 }, description: 'A retried POST with the same key (1-200 characters) returns the same ticket' })
  @ApiCreatedResponse({ type: TicketDto, description: 'Lock request queued successfully' })
  @ApiBadRequestResponse({ description: 'Invalid body (the message names the field), or a count above the pool\'s size' })
  @ApiNotFoundResponse({ description: 'No such pool in the repository' })
  @ApiConflictResponse({ description: 'Idempotency-Key reused for another lock or pool, or with another lease, reason, wait limit or metadata; or a resource named like a pool' })
  async queue(@CurrentPrincipal() p: Principal, @Body() dto: QueueLockDto, @Headers('idempotency-key') idempotencyKey: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Promise<TicketDto> {
    if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 200)) {
      throw new BadRequestException('Idempotency-Key header must be 1-200 characters');
    }
    const { ticket, replayed } = await this.mutex.queue(p, {
      repository: dto.repository,
      resource: dto.resource,
      resources: dto.resources,
      pool: dto.pool,
      count: dto.count,
      leaseSeconds: dto.leaseDurationSeconds,
      reason: dto.reason,
      waitTimeoutSeconds: dto.waitTimeoutSeconds,
      metadata: dto.metadata,
      idempotencyKey,
    });
    if (replayed) reply.header('idempotent-replayed', 'true');
    return toTicketDto(ticket);
  }

  @Get(':repository/:resource')
  @LockPath()
  @ApiOperation({ summary: 'Get all locks for a resource', description: 'Holder first, then the queue in order, then tickets released within the retention window (newest first).' })
  @ApiOkResponse({ type: [TicketDto] })
  async list(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string): Promise<TicketDto[]> {
    return (await this.mutex.list(p, repository, resource)).map(toTicketDto);
  }

  @Delete(':repository/:resource')
  @LockPath()
  @ApiOperation({ summary: 'Clear all locks for a resource', description: 'Force clears the holder and every waiter (releaseReason `cleared`).' })
  @ApiOkResponse({ type: ClearResultDto })
  async clear(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string): Promise<ClearResultDto> {
    const tickets = await this.mutex.clear(p, repository, resource);
    return { cleared: tickets.length, message: `Cleared ${tickets.length} ticket(s)`, tickets: tickets.map(toTicketDto) };
  }

  @Get(':repository/:resource/:ticketId')
  @LockPath()
  @ApiOperation({ summary: 'Get status of a specific lock' })
  @ApiOkResponse({ type: TicketDto })
  @ApiNotFoundResponse({ description: 'Lock not found' })
  async status(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string, @Param('ticketId', ticketParam) ticketId: string): Promise<TicketDto> {
    return toTicketDto(await this.mutex.get(p, repository, resource, ticketId));
  }

  @Delete(':repository/:resource/:ticketId')
  @LockPath()
  @ApiOperation({ summary: 'Release a lock', description: 'A holder frees the lock and the next waiter is granted at once; a waiter leaves the queue. 409 with releaseReason if the ticket had already ended.' })
  @ApiOkResponse({ type: TicketDto, description: 'Lock released successfully' })
  @ApiNotFoundResponse({ description: 'Lock not found' })
  @ApiConflictResponse({ description: 'The ticket had already ended (its releaseReason tells why)' })
  async release(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string, @Param('ticketId', ticketParam) ticketId: string): Promise<TicketDto> {
    return toTicketDto(await this.mutex.release(p, repository, resource, ticketId));
  }

  @Post(':repository/:resource/:ticketId/acquire')
  @LockPath()
  @HttpCode(200)
  @ApiOperation({ summary: 'Attempt to acquire a lock for a queued ticket', description: 'Returns at once, or with `waitSeconds` (≤ 60) as soon as the ticket is granted.' })
  @ApiOkResponse({ type: AcquireResultDto })
  @ApiNotFoundResponse({ description: 'Lock not found' })
  @ApiConflictResponse({ description: 'The ticket has ended (its releaseReason tells why)' })
  async acquire(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string, @Param('ticketId', ticketParam) ticketId: string, @Query() query: AcquireQueryDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<AcquireResultDto> {
    const abort = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.once('close', onClose);
    try {
      const ticket = await this.mutex.acquire(p, repository, resource, ticketId, query.waitSeconds ?? 0, abort.signal);
      const acquired = ticket.status === 'acquired';
      return {
        acquired,
        message: acquired ? 'Lock acquired' : `Lock is held by another ticket; queue position ${ticket.queuePosition}`,
        ticket: toTicketDto(ticket),
      };
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  @Post(':repository/:resource/:ticketId/renew')
  @LockPath()
  @HttpCode(200)
  @ApiOperation({ summary: 'Renew (extend) the lease of the holding ticket from now' })
  @ApiBody({ type: RenewLockDto, required: false, description: 'Optional: without a body (or without leaseDurationSeconds) the lease is renewed for its own duration' })
  @ApiOkResponse({ type: TicketDto })
  @ApiNotFoundResponse({ description: 'Lock not found' })
  @ApiConflictResponse({ description: 'The ticket does not hold the lock' })
  async renew(@CurrentPrincipal() p: Principal, @Param('repository', repoParam) repository: string, @Param('resource', resourceParam) resource: string, @Param('ticketId', ticketParam) ticketId: string, @Body() dto: RenewLockDto): Promise<TicketDto> {
    return toTicketDto(await this.mutex.renew(p, repository, resource, ticketId, dto.leaseDurationSeconds ?? null));
  }
}
