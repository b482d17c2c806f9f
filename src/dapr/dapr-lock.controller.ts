import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiSecurity,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Roles } from '../auth/roles.decorator';
import { AppConfig } from '../config/app-config';
import { MutexService } from '../mutex/mutex.service';
import { MAX_NAME_LENGTH } from '../common/lock-name';
import { DaprLockLimits, parseTryLock, parseUnlock } from './dapr-lock-request.validator';

const daprError = (example: string) => ({
  type: 'object',
  properties: { errorCode: { type: 'string', example }, message: { type: 'string' } },
});

const name = (example: string) => ({ type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH, example });

/**
 * The Dapr distributed lock API (v1.0-alpha1). Lock store `S`, resource `R` is the mutex's
 * repository `S`, resource `R`, so sfp clients see (and queue behind) the same locks.
 * The body is validated by hand, not by a DTO, so errors come out in Dapr's order and codes.
 */
@ApiTags('Dapr distributed lock')
@ApiBearerAuth('api-key')
@ApiSecurity('dapr-api-token')
@ApiParam({ name: 'store', description: 'Lock store name (one of DAPR_LOCK_STORES)', example: 'lockstore' })
@ApiBadRequestResponse({ description: 'ERR_MALFORMED_REQUEST or ERR_LOCK_STORE_NOT_FOUND', schema: daprError('ERR_MALFORMED_REQUEST') })
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key', schema: daprError('ERR_UNAUTHORIZED') })
@ApiForbiddenResponse({ description: 'Requires role: owner, application (or the key may not access this store)', schema: daprError('ERR_PERMISSION_DENIED') })
@Roles('owner', 'application')
@Controller('v1.0-alpha1')
export class DaprLockController {
  private readonly limits: DaprLockLimits;

  constructor(
    private readonly mutex: MutexService,
    config: AppConfig,
  ) {
    this.limits = { stores: config.DAPR_LOCK_STORES, maxLeaseSeconds: config.MAX_LEASE_SECONDS };
  }

  @Post('lock/:store')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Dapr Try Lock',
    description:
      'Succeeds only if nobody holds the lock and nobody waits in its queue; never queues. ' +
      'Not reentrant: the same lockOwner asking again gets `success: false`. The lease ends after expiryInSeconds.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['resourceId', 'lockOwner', 'expiryInSeconds'],
      properties: {
        resourceId: name('uat-org'),
        lockOwner: name('pipeline-run-42'),
        expiryInSeconds: { type: 'integer', minimum: 1, example: 60, description: 'Lease length, at most MAX_LEASE_SECONDS' },
      },
    },
  })
  @ApiOkResponse({ description: 'Lock attempt completed', schema: { type: 'object', properties: { success: { type: 'boolean' } } } })
  async lock(@CurrentPrincipal() p: Principal, @Param('store') store: string, @Body() body: unknown): Promise<{ success: boolean }> {
    const req = parseTryLock(store, body, this.limits);
    const ticket = await this.mutex.tryLock(p, {
      repository: req.store,
      resource: req.resourceId,
      owner: req.lockOwner,
      leaseSeconds: req.expiryInSeconds,
      source: 'dapr',
    });
    return { success: ticket !== null };
  }

  @Post('unlock/:store')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Dapr Unlock',
    description: 'Releases the lock if lockOwner holds it; the next queued sfp ticket is granted at once.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['resourceId', 'lockOwner'],
      properties: { resourceId: name('uat-org'), lockOwner: name('pipeline-run-42') },
    },
  })
  @ApiOkResponse({
    description: 'Unlock completed',
    schema: {
      type: 'object',
      properties: {
        status: { type: 'integer', enum: [0, 1, 2], description: '0 success, 1 lock does not exist, 2 lock belongs to another owner' },
      },
    },
  })
  async unlock(@CurrentPrincipal() p: Principal, @Param('store') store: string, @Body() body: unknown): Promise<{ status: 0 | 1 | 2 }> {
    const req = parseUnlock(store, body, this.limits);
    return { status: await this.mutex.releaseOwner(p, req.store, req.resourceId, req.lockOwner) };
  }
}
