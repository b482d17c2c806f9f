import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { HandlerMetadataCache } from './handler-metadata';
import { Principal } from './principal';
import { ROLES_KEY } from './roles.decorator';
import { Role } from './user.entity';

@Injectable()
export class RolesGuard implements CanActivate {
  private readonly roles: HandlerMetadataCache<Role[]>;

  constructor(reflector: Reflector) {
    this.roles = new HandlerMetadataCache<Role[]>(reflector, ROLES_KEY);
  }

  canActivate(context: ExecutionContext): boolean {
    const roles = this.roles.get(context);
    if (!roles || roles.length === 0) return true;
    const principal: Principal | undefined = context.switchToHttp().getRequest().user;
    if (principal && roles.includes(principal.role)) return true;
    throw new ForbiddenException(`Requires role: ${roles.join(', ')}`);
  }
}
