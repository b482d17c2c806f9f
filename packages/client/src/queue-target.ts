import type { LockRef, QueueRequest } from './sfp-client';

/** What a ticket asks for: one or more resources (all granted at once), or `count` free members of a pool. */
export type QueueTarget = { resources: string[] } | { pool: string; count: number };

/**
 * The lock path a ticket for this target answers under: its first resource, or its pool's name
 * (a pool ticket answers there while it waits and once it holds members).
 */
export function targetLock(repository: string, target: QueueTarget): LockRef {
  return { repository, resource: 'pool' in target ? target.pool : target.resources[0] };
}

/** The queue body's part for the target. */
export function targetBody(target: QueueTarget): Pick<QueueRequest, 'resource' | 'resources' | 'pool' | 'count'> {
  if ('pool' in target) return { pool: target.pool, count: target.count };
  return target.resources.length === 1 ? { resource: target.resources[0] } : { resources: target.resources };
}

/** How a target reads in messages: `flxbl-io/sf-core src+uat`, `flxbl-io/sf-core pool uat-orgs (2)`. */
export function targetName(repository: string, target: QueueTarget): string {
  return 'pool' in target ? `${repository} pool ${target.pool}${target.count > 1 ? ` (${target.count})` : ''}` : `${repository} ${target.resources.join('+')}`;
}
