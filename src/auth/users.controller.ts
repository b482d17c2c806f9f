import { BadRequestException, Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
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
  @ApiOperation({ summary: 'Create a user and its API key', description: 'The key is in the answer once; only its hash is stored. `repositories` limits it to matching repositories.' })
  @ApiCreatedResponse({ type: CreatedUserDto, description: 'The user, with its API key shown this once' })
  @ApiForbiddenResponse({ description: 'Requires role: owner' })
  create(@Body() dto: CreateUserDto): Promise<CreatedUserDto> {
    return this.users.create(dto);
  }

  @Get()
  @Roles('owner')
  @ApiOperation({ summary: 'List users' })
  @ApiOkResponse({ type: [UserDto] })
  @ApiForbiddenResponse({ description: 'Requires role: owner' })
  list(): Promise<UserDto[]> {
    return this.users.list();
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
  @ApiForbiddenResponse({ description: 'Requires role: owner' })
  revoke(@Param('id', new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException('id must be a UUID') })) id: string): Promise<UserDto> {
    return this.users.revoke(id);
  }
}
