import { DaprError } from '../common/dapr-error';
import { MAX_NAME_LENGTH, nameProblem } from '../common/lock-name';

export interface DaprLockLimits {
  stores: readonly string[];
  maxLeaseSeconds: number;
}

export interface DaprTryLock {
  store: string;
  resourceId: string;
  lockOwner: string;
  expiryInSeconds: number;
}

export type DaprUnlock = Omit<DaprTryLock, 'expiryInSeconds'>;

const malformed = (message: string) => new DaprError(400, 'ERR_MALFORMED_REQUEST', message);

/**
 * Dapr decodes the body with protojson: a field that is absent or null takes its zero value
 * ("" or 0), a wrong JSON type fails the whole decode. We mirror that, so "missing" and
 * "empty" give Dapr's own "is empty" / "is not positive" messages.
 */
function object(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw malformed('failed deserializing HTTP body: the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw malformed(`failed deserializing HTTP body: ${field} must be a string`);
  return v;
}

/** protojson accepts an int32 as a JSON number or a decimal string; anything else is malformed. */
function int32Field(body: Record<string, unknown>, field: string): number {
  const v = body[field];
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw malformed(`failed deserializing HTTP body: ${field} must be an integer`);
  if (n > 2_147_483_647 || n < -2_147_483_648) {
    throw malformed(`failed deserializing HTTP body: ${field} must be a 32-bit integer (-2147483648 to 2147483647)`);
  }
  return n;
}

/**
 * Rules Dapr does not have but a shared lock table needs: a resourceId follows the one lock-name
 * rule (src/common/lock-name.ts), so every lock stays addressable from the sfp API; a lockOwner is
 * bounded and printable like it.
 */
const DAPR_NAME_PROBLEM = {
  too_long: `is longer than ${MAX_NAME_LENGTH} characters`,
  control: 'contains control characters',
  blank: 'is blank',
  malformed: 'is not well-formed Unicode',
} as const;

function checkResourceId(value: string, store: string): void {
  const problem = nameProblem(value);
  if (problem) throw malformed(`ResourceId ${DAPR_NAME_PROBLEM[problem]} in lock store ${store}`);
}

/** A lockOwner may be blank (Dapr allows it), but not malformed: a lone surrogate would be stored as U+FFFD, so two owners would match. */
function checkOwner(value: string, store: string): void {
  const problem = nameProblem(value);
  if (problem && problem !== 'blank') throw malformed(`LockOwner ${DAPR_NAME_PROBLEM[problem]} in lock store ${store}`);
}

function checkStore(store: string, limits: DaprLockLimits): void {
  if (!limits.stores.includes(store)) throw new DaprError(400, 'ERR_LOCK_STORE_NOT_FOUND', `lock store ${store} not found`);
}

/** Dapr's order: body fields (resourceId, lockOwner, expiry) first, then the store. */
export function parseTryLock(store: string, body: unknown, limits: DaprLockLimits): DaprTryLock {
  const o = object(body);
  const resourceId = stringField(o, 'resourceId');
  const lockOwner = stringField(o, 'lockOwner');
  const expiryInSeconds = int32Field(o, 'expiryInSeconds');
  if (resourceId === '') throw malformed(`ResourceId is empty in lock store ${store}`);
  if (lockOwner === '') throw malformed(`LockOwner is empty in lock store ${store}`);
  if (expiryInSeconds <= 0) throw malformed(`ExpiryInSeconds is not positive in lock store ${store}`);
  if (expiryInSeconds > limits.maxLeaseSeconds) {
    throw malformed(`ExpiryInSeconds is more than the maximum of ${limits.maxLeaseSeconds} in lock store ${store}`);
  }
  checkResourceId(resourceId, store);
  checkOwner(lockOwner, store);
  checkStore(store, limits);
  return { store, resourceId, lockOwner, expiryInSeconds };
}

export function parseUnlock(store: string, body: unknown, limits: DaprLockLimits): DaprUnlock {
  const o = object(body);
  const resourceId = stringField(o, 'resourceId');
  const lockOwner = stringField(o, 'lockOwner');
  if (resourceId === '') throw malformed(`ResourceId is empty in lock store ${store}`);
  if (lockOwner === '') throw malformed(`LockOwner is empty in lock store ${store}`);
  checkResourceId(resourceId, store);
  checkOwner(lockOwner, store);
  checkStore(store, limits);
  return { store, resourceId, lockOwner };
}
