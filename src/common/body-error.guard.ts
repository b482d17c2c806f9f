import { BadRequestException, CanActivate, ExecutionContext, Injectable } from '@nestjs/common';

/** Where the body parser leaves what it found wrong with a body (app.factory.ts), instead of answering at once. */
export const BODY_ERROR = Symbol('bodyError');

export interface RequestWithBodyError {
  [BODY_ERROR]?: string;
}

/**
 * Answers a body the parser could not accept (not JSON, nested too deep, a number out of range,
 * a `__proto__` key) with its 400, but only after the key and role checks: a client without a
 * valid key learns that first (401/403), as from a Dapr sidecar, and nothing about the body.
 * An unknown route stays a 404 whatever its body.
 */
@Injectable()
export class BodyErrorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const message = context.switchToHttp().getRequest<RequestWithBodyError>()[BODY_ERROR];
    if (message !== undefined) throw new BadRequestException(message);
    return true;
  }
}
