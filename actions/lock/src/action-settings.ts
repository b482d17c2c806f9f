import { LockRef, parseDuration, QueueTarget, SfpClient, SfpHttpError, SfpUnavailableError, targetLock } from '@queue-mutex/client';
import { ActionFailure, input, requiredInput } from './action-runtime';

export const DEFAULT_LEASE = '15m';

export interface ActionSettings {
  url: string;
  token: string;
  /** The path the ticket answers under (its first resource, or its pool). */
  lock: LockRef;
  target: QueueTarget;
  leaseSeconds: number;
  waitTimeoutSeconds: number | null;
  reason: string;
}

/** The inputs (the runner gives them to main and post alike), checked: a bad one fails the step with a message naming it. */
export function readSettings(): ActionSettings {
  const token = requiredInput('token');
  const url = requiredInput('url');
  if (!/^https?:\/\/[^/]/.test(url)) throw new ActionFailure(`input 'url' must be an http:// or https:// URL, not '${url}'`);
  const repository = requiredInput('repository');
  const target = targetInput();
  return {
    url,
    token,
    lock: targetLock(repository, target),
    target,
    leaseSeconds: duration('lease', input('lease') || DEFAULT_LEASE),
    waitTimeoutSeconds: input('wait-timeout') ? duration('wait-timeout', input('wait-timeout')) : null,
    reason: input('reason'),
  };
}

/** `resource` (one per line: a set) or `pool` with `count`. */
function targetInput(): QueueTarget {
  const resources = input('resource')
    .split('\n')
    .map((r) => r.trim())
    .filter(Boolean);
  const pool = input('pool').trim();
  if (pool && resources.length > 0) throw new ActionFailure("give input 'resource' or 'pool', not both");
  if (pool) {
    const count = Number(input('count') || '1');
    if (!Number.isInteger(count) || count < 1) throw new ActionFailure(`input 'count' must be a whole number of at least 1, not '${input('count')}'`);
    return { pool, count };
  }
  if (resources.length === 0) throw new ActionFailure("input 'resource' is required (or 'pool')");
  return { resources };
}

function duration(name: string, text: string): number {
  const seconds = parseDuration(text);
  if (seconds === null) throw new ActionFailure(`input '${name}' must be a duration (seconds, or e.g. 90s, 15m, 2h), not '${text}'`);
  return seconds;
}

export function clientFor(s: Pick<ActionSettings, 'url' | 'token'>, clockOffsetMs?: number): SfpClient {
  return new SfpClient({ url: s.url, token: s.token, userAgent: 'queue-mutex-action/0.1.0', clockOffsetMs });
}

/** Names of the values main saves for post (read there as STATE_<name>). */
export const STATE = {
  ticket: 'ticket',
  acquired: 'acquired',
  renewerPid: 'renewerPid',
  renewerLog: 'renewerLog',
} as const;

/** A service error as one line for the step's error annotation. */
export function failure(err: unknown): Error {
  if (err instanceof SfpHttpError && (err.status === 401 || err.status === 403)) return new ActionFailure(`the service refused the key (${err.status}): ${err.message}`);
  if (err instanceof SfpHttpError) return new ActionFailure(`the service answered ${err.status}: ${err.message}`);
  if (err instanceof SfpUnavailableError) return new ActionFailure(err.message);
  return err as Error;
}
