import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { BodyErrorGuard } from '../common/body-error.guard';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeyGuard } from './api-key.guard';
import { BearerKeyStrategy, DaprTokenStrategy } from './api-key.strategy';
import { AuthService } from './auth.service';
import { KeyHasher, Sha256KeyHasher } from './key-hasher';
import { RolesGuard } from './roles.guard';
import { UserEntity } from './user.entity';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [PassportModule, TypeOrmModule.forFeature([UserEntity, ApiKeyEntity])],
  controllers: [UsersController],
  providers: [
    { provide: KeyHasher, useClass: Sha256KeyHasher },
    AuthService,
    UsersService,
    BearerKeyStrategy,
    DaprTokenStrategy,
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: RolesGuard },
    // Last: a body's problems are told only to a client allowed to send it.
    { provide: APP_GUARD, useClass: BodyErrorGuard },
  ],
  exports: [AuthService, UsersService],
})
export class AuthModule {}
