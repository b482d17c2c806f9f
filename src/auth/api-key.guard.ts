import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthenticatingRequest, daprApiToken } from './api-key.strategy';
import { AuthService } from './auth.service';
import { HandlerMetadataCache } from './handler-metadata';
import { Principal } from './principal';
import { PUBLIC_KEY } from './roles.decorator';

interface CredentialRequest extends AuthenticatingRequest {
  body?: unknown;
  query?: unknown;
  user?: Principal;
}

const BEARER_SCHEME = /^Bearer$/i;
const UNREADABLE = Symbol('unreadable');

/**
 * The token passport-http-bearer would read from a request, read the same way (its
 * `Strategy.prototype.authenticate`): `Authorization: Bearer <key>`, else the `access_token` field
 * of the body or the query. An Authorization header that is not two words, or a token given twice,
 * is no credential at all (the strategy fails); so is none. Returns UNREADABLE then.
 */
function bearerToken(req: CredentialRequest): unknown {
  let token: unknown;
  const authorization = req.headers?.authorization as string | undefined;
  if (authorization) {
    const parts = authorization.split(' ');
    if (parts.length !== 2) return UNREADABLE;
    if (BEARER_SCHEME.test(parts[0])) token = parts[1];
  }
  const bodyToken = (req.body as { access_token?: unknown } | null | undefined)?.access_token;
  if (req.body && bodyToken) {
    if (token) return UNREADABLE;
    token = bodyToken;
  }
  const queryToken = (req.query as { access_token?: unknown } | null | undefined)?.access_token;
  if (req.query && queryToken) {
    if (token) return UNREADABLE;
    token = queryToken;
  }
  return token ? token : UNREADABLE;
}

/**
 * Global: every route needs a valid key unless marked @Public(). The same credentials, in the same
 * order, as the passport strategies `bearer` then `dapr-token` (api-key.strategy.ts), checked
 * directly: passport's per-request machinery (a strategy object, a promise chain and request
 * decorations per call) cost more than the cached key lookup itself.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly isPublic: HandlerMetadataCache<boolean>;

  constructor(
    reflector: Reflector,
    private readonly auth: AuthService,
  ) {
    this.isPublic = new HandlerMetadataCache<boolean>(reflector, PUBLIC_KEY);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.isPublic.get(context)) return true;
    const req = context.switchToHttp().getRequest<CredentialRequest>();
    req.authService = this.auth;
    const bearer = bearerToken(req);
    // The usual case, a bearer key known without a query (cached, or OWNER_TOKEN): no promise.
    if (typeof bearer === 'string') {
      const principal = this.auth.verifyWithoutQuery(bearer);
      if (principal) {
        req.user = principal;
        return true;
      }
    }
    return this.authenticate(req, bearer);
  }

  private async authenticate(req: CredentialRequest, bearer: unknown): Promise<boolean> {
    // As the `bearer` strategy's validate(): a key that verifies to no one is a failure, and the
    // `dapr-token` strategy is tried next.
    let principal = bearer === UNREADABLE ? null : await this.auth.verify(bearer as string);
    if (!principal) {
      const dapr = daprApiToken(req);
      if (dapr) principal = await this.auth.verify(dapr);
    }
    if (!principal) throw new UnauthorizedException('Missing, invalid, expired or revoked API key');
    req.user = principal;
    return true;
  }
}
