import { BadRequestException, Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
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
import { CurrentPrincipal } from './current-principal.decorator';
import { CreatedUserDto, CreateUserDto, UserDto } from './dto/user.dto';
import { Principal } from './principal';
import { Roles } from './roles.decorator';
import { UsersService } from './users.service';

@ApiTags('Users')
@ApiBearerAuth('api-key')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@Controller('sfp/api/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @Roles('owner')
  @ApiOperation({
    summary: 'Create a user and its API key',
    description:
      'The key is in the answer once; only its hash is stored. `repositories` limits it to matching repositories. ' +
      'An owner key that is itself limited to repositories may only create users limited to within them.',
  })
  @ApiCreatedResponse({ type: CreatedUserDto, description: 'The user, with its API key shown this once' })
  @ApiBadRequestResponse({ description: 'Invalid body (the message names the field)' })
  @ApiForbiddenResponse({ description: "Requires role: owner; or the new user's repositories go beyond this key's" })
  create(@Body() dto: CreateUserDto, @CurrentPrincipal() principal: Principal): Promise<CreatedUserDto> {
    return this.users.create(dto, principal);
  }

  @Get()
  @Roles('owner')
  @ApiOperation({ summary: 'List users', description: 'For an owner key limited to repositories: the users limited to within them.' })
  @ApiOkResponse({ type: [UserDto] })
  @ApiForbiddenResponse({ description: 'Requires role: owner' })
  list(@CurrentPrincipal() principal: Principal): Promise<UserDto[]> {
    return this.users.list(principal);
  }

  @Get('me')
  @ApiOperation({ summary: 'Who am I', description: 'The user behind the key of this request (any role).' })
  @ApiOkResponse({ type: UserDto, description: 'The caller' })
  me(@CurrentPrincipal() principal: Principal): Promise<UserDto> {
    return this.users.me(principal);
  }

  @Delete(':id')
  @Roles('owner')
  @ApiOperation({ summary: 'Revoke a user', description: 'Its keys stop working at once, on every instance.' })
  @ApiOkResponse({ type: UserDto, description: 'Revoked: its keys stop working at once' })
  @ApiBadRequestResponse({ description: 'id is not a UUID' })
  @ApiForbiddenResponse({ description: "Requires role: owner; or the user's repositories go beyond this key's" })
  @ApiNotFoundResponse({ description: 'No such user' })
  @ApiConflictResponse({ description: 'Already revoked' })
  revoke(
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException('id must be a UUID') })) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<UserDto> {
    return this.users.revoke(id, principal);
  }
}
