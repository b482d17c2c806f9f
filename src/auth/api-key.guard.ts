import { ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { AuthService } from './auth.service';
import { PUBLIC_KEY } from './roles.decorator';

/** Global: every route needs a valid key unless marked @Public(). */
@Injectable()
export class ApiKeyGuard extends AuthGuard(['bearer', 'dapr-token']) {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {
    super();
  }

  canActivate(context: ExecutionContext) {
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    context.switchToHttp().getRequest().authService = this.auth;
    return super.canActivate(context);
  }

  handleRequest<T>(err: unknown, user: T): T {
    if (err) throw err;
    if (!user) throw new UnauthorizedException('Missing, invalid, expired or revoked API key');
    return user;
  }
}
