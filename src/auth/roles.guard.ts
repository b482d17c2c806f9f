import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Principal } from './principal';
import { ROLES_KEY } from './roles.decorator';
import { Role } from './user.entity';

@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles || roles.length === 0) return true;
    const principal: Principal | undefined = context.switchToHttp().getRequest().user;
    if (principal && roles.includes(principal.role)) return true;
    throw new ForbiddenException(`Requires role: ${roles.join(', ')}`);
  }
}
