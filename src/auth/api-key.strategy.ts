import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { Strategy as CustomStrategy } from 'passport-custom';
import type { AuthService } from './auth.service';

/**
 * Passport keeps strategies in one process-wide registry, so a strategy must not capture one
 * application's services (several instances may share a process, as in the tests). The guard
 * puts its own AuthService on the request; the strategies use that.
 */
export interface AuthenticatingRequest {
  headers: Record<string, string | string[] | undefined>;
  authService: AuthService;
}

/** `Authorization: Bearer <key>`. */
@Injectable()
export class BearerKeyStrategy extends PassportStrategy(BearerStrategy, 'bearer') {
  constructor() {
    super({ passReqToCallback: true });
  }

  async validate(req: AuthenticatingRequest, token: string) {
    return (await req.authService.verify(token)) ?? false;
  }
}

/** The key in a `dapr-api-token` header (the first, if repeated), or undefined. */
export function daprApiToken(req: Pick<AuthenticatingRequest, 'headers'>): string | undefined {
  const header = req.headers['dapr-api-token'];
  return (Array.isArray(header) ? header[0] : header) || undefined;
}

/** `dapr-api-token: <key>`, the header the Dapr SDKs send. */
@Injectable()
export class DaprTokenStrategy extends PassportStrategy(CustomStrategy, 'dapr-token') {
  async validate(req: AuthenticatingRequest) {
    const token = daprApiToken(req);
    if (!token) return false;
    return (await req.authService.verify(token)) ?? false;
  }
}
