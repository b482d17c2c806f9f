import { ExecutionContext, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import fc from 'fast-check';
import { ApiKeyGuard } from './api-key.guard';
import { BearerKeyStrategy, DaprTokenStrategy } from './api-key.strategy';
import { AuthService } from './auth.service';
import { Principal } from './principal';

/** The guard as it was: passport's `bearer` then `dapr-token` strategies. */
class PassportApiKeyGuard extends AuthGuard(['bearer', 'dapr-token']) {
  constructor(private readonly auth: AuthService) {
    super();
  }
  canActivate(context: ExecutionContext) {
    context.switchToHttp().getRequest().authService = this.auth;
    return super.canActivate(context);
  }
  handleRequest<T>(err: unknown, user: T): T {
    if (err) throw err;
    if (!user) throw new UnauthorizedException('Missing, invalid, expired or revoked API key');
    return user;
  }
}

const principal = (name: string) => ({ userId: name, name, role: 'owner', kind: 'user', repositories: null, keyId: name }) as Principal;
const KEYS: Record<string, Principal> = { good: principal('good'), other: principal('other'), cached: principal('cached') };

/** Keys `good` and `other` need a query, `cached` does not; `boom` fails the lookup. */
const auth = {
  verifyWithoutQuery: (key: string) => (!key || key.length > 512 ? null : key === 'cached' ? KEYS.cached : undefined),
  verify: async (key: string) => {
    if (key === 'boom') throw new Error('database unavailable');
    if (typeof key !== 'string') throw new TypeError('not a string');
    return KEYS[key] ?? null;
  },
} as unknown as AuthService;

new BearerKeyStrategy();
new DaprTokenStrategy();
const reflector = { getAllAndOverride: () => undefined } as unknown as Reflector;
const handler = () => undefined;
class Controller {}

const contextOf = (req: object) =>
  ({
    getHandler: () => handler,
    getClass: () => Controller,
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => ({}) }),
  }) as unknown as ExecutionContext;

const outcome = async (guard: { canActivate(c: ExecutionContext): unknown }, req: Record<string, unknown>) => {
  const copy = { ...req };
  try {
    const ok = await guard.canActivate(contextOf(copy));
    return { ok, user: copy.user };
  } catch (e) {
    return { error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
};

describe('ApiKeyGuard', () => {
  const before = new PassportApiKeyGuard(auth);
  const now = new ApiKeyGuard(reflector, auth);
  const token = fc.constantFrom('good', 'other', 'cached', 'bad', 'boom', '', 'x'.repeat(600));
  const authorization = fc.oneof(
    token.map((t) => `Bearer ${t}`),
    token.map((t) => `bearer ${t}`),
    token.map((t) => `Basic ${t}`),
    token.map((t) => `Bearer  ${t}`),
    token.map((t) => `Bearer ${t} extra`),
    token,
    fc.constant('Bearer'),
  );
  const tokenField = fc.record({ access_token: fc.oneof(token, fc.constantFrom(0, 1, null, true) as fc.Arbitrary<unknown>) }, { requiredKeys: [] });
  const request = fc.record(
    {
      headers: fc.record({ authorization, 'dapr-api-token': fc.oneof(token, fc.array(token, { maxLength: 2 })) }, { requiredKeys: [] }),
      body: fc.oneof(tokenField, fc.constantFrom(undefined, null, 'text', 5)),
      query: tokenField,
    },
    { requiredKeys: ['headers', 'query'] },
  );

  it('accepts and refuses exactly the requests passport did, with the same principal or error', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        expect(await outcome(now, req)).toEqual(await outcome(before, req));
      }),
      { numRuns: 3_000 },
    );
  });

  it('answers a cached bearer key without a promise', () => {
    const req: Record<string, unknown> = { headers: { authorization: 'Bearer cached' }, query: {} };
    expect(now.canActivate(contextOf(req))).toBe(true);
    expect(req.user).toBe(KEYS.cached);
  });
});
