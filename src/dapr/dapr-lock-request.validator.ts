import { DaprError } from '../common/dapr-error';

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

/** Longest resourceId / lockOwner we store; the same bound as sfp names. */
export const DAPR_LOCK_NAME_MAX = 300;

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
  const n = typeof v === 'string' && /^-?\d{1,10}$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n > 2_147_483_647 || n < -2_147_483_648) {
    throw malformed(`failed deserializing HTTP body: ${field} must be an integer`);
  }
  return n;
}

/** Bounds Dapr does not have but a shared lock table needs: names stay addressable from sfp. */
function checkName(value: string, field: string, store: string): void {
  if (value.length > DAPR_LOCK_NAME_MAX) throw malformed(`${field} is longer than ${DAPR_LOCK_NAME_MAX} characters in lock store ${store}`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw malformed(`${field} contains control characters in lock store ${store}`);
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
  checkName(resourceId, 'ResourceId', store);
  checkName(lockOwner, 'LockOwner', store);
  checkStore(store, limits);
  return { store, resourceId, lockOwner, expiryInSeconds };
}

export function parseUnlock(store: string, body: unknown, limits: DaprLockLimits): DaprUnlock {
  const o = object(body);
  const resourceId = stringField(o, 'resourceId');
  const lockOwner = stringField(o, 'lockOwner');
  if (resourceId === '') throw malformed(`ResourceId is empty in lock store ${store}`);
  if (lockOwner === '') throw malformed(`LockOwner is empty in lock store ${store}`);
  checkName(resourceId, 'ResourceId', store);
  checkName(lockOwner, 'LockOwner', store);
  checkStore(store, limits);
  return { store, resourceId, lockOwner };
}
