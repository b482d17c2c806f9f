import { Controller, ForbiddenException, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ThrottlerGuard } from '@nestjs/throttler';
import { Public } from '../auth/roles.decorator';
import { UsersService } from '../auth/users.service';
import { AppConfig } from '../config/app-config';
import { AnonymousUserDto } from './dto/synchronize.dto';
import { synchronizeNamespace } from './synchronize.service';

/** synchronize's self-service sign-up: no key needed, so it is rate-limited per client address. */
@ApiTags('synchronize')
@Controller('api/v0/users')
export class AnonymousUsersController {
  constructor(
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  @Post('anonymous')
  @Public()
  @UseGuards(ThrottlerGuard)
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create anonymous user',
    description:
      'Returns a user id and an API key (a UUID, shown once) limited to its own private namespace. ' +
      'Rate-limited to SYNCHRONIZE_ANONYMOUS_PER_MINUTE per client address; off when SYNCHRONIZE_ANONYMOUS_USERS=false.',
  })
  @ApiOkResponse({ type: AnonymousUserDto })
  @ApiForbiddenResponse({ description: 'Anonymous users are disabled on this server' })
  @ApiTooManyRequestsResponse({ description: 'Too many anonymous users created from this address; retry later' })
  create(): Promise<AnonymousUserDto> {
    if (!this.config.SYNCHRONIZE_ANONYMOUS_USERS) {
      throw new ForbiddenException('Anonymous users are disabled on this server (SYNCHRONIZE_ANONYMOUS_USERS=false); ask an owner for an API key');
    }
    return this.users.createAnonymous(synchronizeNamespace);
  }
}
