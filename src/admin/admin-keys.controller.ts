import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { Roles } from '../auth/roles.decorator';
import { uuidParam } from '../common/params';
import { AdminKeysService } from './admin-keys.service';
import { CreatedKeyDto, CreateKeyDto, KeyDto, KeyPageDto, KeysQueryDto } from './dto/admin-key.dto';

@ApiTags('Admin')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@ApiForbiddenResponse({ description: "Requires role: owner; a key limited to repositories manages only users limited to within them" })
@Roles('owner')
@Controller('sfp/api/admin/keys')
export class AdminKeysController {
  constructor(private readonly keys: AdminKeysService) {}

  @Get()
  @ApiOperation({ summary: 'List API keys (prefix, user, created, expires, last used, revoked); newest first' })
  @ApiOkResponse({ type: KeyPageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter or paging value' })
  list(@Query() query: KeysQueryDto, @CurrentPrincipal() principal: Principal): Promise<KeyPageDto> {
    return this.keys.list(query, principal);
  }

  @Post()
  @ApiOperation({ summary: 'Issue another key for an existing user', description: 'The key is in the answer this once; only its SHA-256 hash is stored.' })
  @ApiCreatedResponse({ type: CreatedKeyDto })
  @ApiBadRequestResponse({ description: 'Invalid body (userId not a UUID, expiresAt not a future date-time)' })
  @ApiNotFoundResponse({ description: 'No such user' })
  @ApiConflictResponse({ description: 'The user is revoked' })
  create(@Body() dto: CreateKeyDto, @CurrentPrincipal() principal: Principal): Promise<CreatedKeyDto> {
    return this.keys.create(dto, principal);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke one key', description: 'It stops working at once on every instance.' })
  @ApiOkResponse({ type: KeyDto })
  @ApiNotFoundResponse({ description: 'No such key' })
  @ApiConflictResponse({ description: 'Already revoked' })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  revoke(@Param('id', uuidParam('id')) id: string, @CurrentPrincipal() principal: Principal): Promise<KeyDto> {
    return this.keys.revoke(id, principal);
  }
}
