import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { SyncLockDto, SyncLockInfoDto, SyncLockQueryDto, SyncLockResultDto, SyncLocksDto, SyncUnlockDto, SyncUnlockResultDto } from './dto/synchronize.dto';
import { SynchronizeService } from './synchronize.service';

/**
 * The synchronize lock API (base URL `…/api`). Any role may call it: every call is confined
 * to the caller's own namespace `synchronize/<userId>`.
 */
@ApiTags('synchronize')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@Controller('api/v0')
export class SynchronizeController {
  constructor(private readonly sync: SynchronizeService) {}

  @Post('lock')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a lock',
    description:
      'Try-lock: acquired only if the lock is free (never waits, not reentrant). The lease lasts SYNCHRONIZE_LEASE_SECONDS ' +
      'unless released. When busy: `locked: false` and a message naming the holder.',
  })
  @ApiOkResponse({ type: SyncLockResultDto })
  @ApiBadRequestResponse({ description: 'lockName or requester missing, empty, not a string or over 300 characters' })
  lock(@CurrentPrincipal() p: Principal, @Body() dto: SyncLockDto): Promise<SyncLockResultDto> {
    return this.sync.lock(p, dto.lockName, dto.requester);
  }

  @Get('lock')
  @ApiOperation({ summary: 'Get lock information', description: 'A free or never-used lock answers `locked: false` with null leaseId and leasedBy.' })
  @ApiOkResponse({ type: SyncLockInfoDto })
  @ApiBadRequestResponse({ description: 'lockName missing or invalid' })
  info(@CurrentPrincipal() p: Principal, @Query() query: SyncLockQueryDto): Promise<SyncLockInfoDto> {
    return this.sync.info(p, query.lockName);
  }

  @Post('unlock')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Unlock a resource',
    description:
      '`unlocked: true` when this call released the lease. A lease that has already ended (released, or expired) ' +
      'answers 200 with `unlocked: false` and a message. An unknown leaseId for this lock answers 404.',
  })
  @ApiOkResponse({ type: SyncUnlockResultDto })
  @ApiNotFoundResponse({ description: 'Lock identifier not found (no such lease on this lock)' })
  @ApiBadRequestResponse({ description: 'lockName or leaseId missing or invalid' })
  unlock(@CurrentPrincipal() p: Principal, @Body() dto: SyncUnlockDto): Promise<SyncUnlockResultDto> {
    return this.sync.unlock(p, dto.lockName, dto.leaseId);
  }

  @Get('locks')
  @ApiOperation({ summary: 'Get all locks', description: "Every lock in the caller's namespace, held or free (up to 1000)." })
  @ApiOkResponse({ type: SyncLocksDto })
  async list(@CurrentPrincipal() p: Principal): Promise<SyncLocksDto> {
    return { locks: await this.sync.list(p) };
  }
}
