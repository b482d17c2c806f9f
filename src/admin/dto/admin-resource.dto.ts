import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { STUCK_RULE_DESCRIPTION } from '../stuck-rule';
import { QueryBoolean, QueryInt, TextFilter } from './query-transforms';

export class ResourcesQueryDto {
  @ApiPropertyOptional({ description: 'Only this repository (exact)', example: 'flxbl-io/sf-core' })
  @TextFilter('repository')
  repository?: string;

  @ApiPropertyOptional({ description: 'Only resources whose name starts with this', example: 'uat-' })
  @TextFilter('prefix')
  prefix?: string;

  @ApiPropertyOptional({ description: 'Only locks whose repository or resource contains this (case-insensitive)', example: 'uat' })
  @TextFilter('contains')
  contains?: string;

  @ApiPropertyOptional({ description: 'true: only locks that have a holder; false: only free locks' })
  @IsOptional() @QueryBoolean() @IsBoolean({ message: 'held must be true or false' })
  held?: boolean;

  @ApiPropertyOptional({ description: 'Only locks with a holder or a waiter that can use them (by name, in a set, or through a pool)' })
  @IsOptional() @QueryBoolean() @IsBoolean({ message: 'active must be true or false' })
  active?: boolean;

  @ApiPropertyOptional({ description: `true: only locks that look stuck; false: only the others. ${STUCK_RULE_DESCRIPTION}` })
  @IsOptional() @QueryBoolean() @IsBoolean({ message: 'stuck must be true or false' })
  stuck?: boolean;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional() @QueryInt() @IsInt({ message: 'limit must be an integer between 1 and 500' }) @Min(1, { message: 'limit must be an integer between 1 and 500' }) @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional() @QueryInt() @IsInt({ message: 'offset must be a non-negative integer' }) @Min(0, { message: 'offset must be a non-negative integer' }) @Max(1_000_000)
  offset?: number;
}

/** The stuck view takes the same filters but `stuck`, which it implies. */
export class StuckQueryDto {
  @ApiPropertyOptional({ description: 'Only this repository (exact)' })
  @TextFilter('repository')
  repository?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional() @QueryInt() @IsInt({ message: 'limit must be an integer between 1 and 500' }) @Min(1, { message: 'limit must be an integer between 1 and 500' }) @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional() @QueryInt() @IsInt({ message: 'offset must be a non-negative integer' }) @Min(0, { message: 'offset must be a non-negative integer' }) @Max(1_000_000)
  offset?: number;
}

export class ActorDto {
  @ApiProperty({ type: String, nullable: true, description: 'User id; null for the system (expiry, time-out)' }) id: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'release-pipeline' }) name: string | null;
}

export const TICKET_KINDS = ['single', 'set', 'pool'] as const;

/**
 * What a holder or waiter asks for, the same on each of its resources: a set's ticket shows all
 * its resources wherever it holds or waits, a pool ticket its pool.
 */
export class TicketScopeDto {
  @ApiProperty({
    enum: TICKET_KINDS,
    example: 'set',
    description: '`single`: one resource by name; `set`: several resources by name, granted all at once; `pool`: `count` free members of a pool',
  })
  kind: 'single' | 'set' | 'pool';

  @ApiProperty({
    type: [String],
    example: ['sf-core-src', 'sf-core-uat'],
    description: 'Every resource the ticket names (a set: in the order asked) or holds (a pool ticket: the members it got; none while it waits). A single ticket: just this resource.',
  })
  resources: string[];

  @ApiProperty({ type: String, nullable: true, example: null, description: 'The pool a pool ticket asks for members of; null otherwise' })
  pool: string | null;

  @ApiProperty({ example: 2, description: 'How many resources it asks for: 1, the size of its set, or a pool ticket\'s `count`' })
  count: number;
}

export class HolderDto extends TicketScopeDto {
  @ApiProperty({ format: 'uuid' }) ticketId: string;
  @ApiProperty({ type: ActorDto }) requestedBy: ActorDto;
  @ApiProperty({ format: 'date-time', description: 'When the lease started (the grant)' }) since: string;
  @ApiProperty({ description: 'Seconds held so far' }) heldSeconds: number;
  @ApiProperty({ format: 'date-time' }) leaseExpiresAt: string;
  @ApiProperty({ description: 'Seconds until the lease ends (negative when overdue)' }) leaseRemainingSeconds: number;
  @ApiProperty() leaseDurationSeconds: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) renewedAt: string | null;
  @ApiProperty({ description: 'Its fencing token on this lock (a set\'s or pool ticket\'s token differs per resource)' }) fencingToken: number;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Where the ticket came from (CI run URL, commit, ref, job…)' }) metadata: Record<string, string>;
  @ApiProperty({ enum: ['sfp', 'dapr', 'synchronize'] }) source: string;
}

export class WaiterDto extends TicketScopeDto {
  @ApiProperty({ format: 'uuid' }) ticketId: string;
  @ApiProperty({
    description: '1 for the next in line for this lock: its place among the waiters that can use this lock, in the global order (its own queuePosition counts the waiters ahead for any of its resources)',
  })
  position: number;
  @ApiProperty({ type: ActorDto }) requestedBy: ActorDto;
  @ApiProperty({ format: 'date-time', description: 'When it joined the queue' }) since: string;
  @ApiProperty() waitSeconds: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it gives up its place' }) waitTimeoutAt: string | null;
  @ApiProperty() leaseDurationSeconds: number;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Where the ticket came from (CI run URL, commit, ref, job…)' }) metadata: Record<string, string>;
}

export class ResourceDto {
  @ApiProperty({ example: 'flxbl-io/sf-core' }) repository: string;
  @ApiProperty({ example: 'uat-org' }) resource: string;
  @ApiProperty({ enum: ['free', 'held', 'stuck'] }) state: 'free' | 'held' | 'stuck';
  @ApiProperty({ type: HolderDto, nullable: true }) holder: HolderDto | null;
  @ApiProperty({ description: 'Tickets waiting that name this resource, alone or in a set (waiting pool tickets are in `poolWaiters`)' }) queueLength: number;
  @ApiProperty({ type: [String], example: ['uat-orgs'], description: 'The pools this resource is a member of' }) pools: string[];
  @ApiProperty({
    example: 0,
    description: 'Waiting tickets of those pools: each can use this resource, but may be granted another member, so they are counted apart from `queueLength`',
  })
  poolWaiters: number;
  @ApiProperty({ type: WaiterDto, nullable: true, description: 'The next in line: the earliest waiter that can use this resource (by name, in a set, or through a pool)' }) nextWaiter: WaiterDto | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Age of the oldest waiter, seconds' }) oldestWaitSeconds: number | null;
  @ApiProperty({ description: 'The last fencing token issued on this lock' }) lastFencingToken: number;
  @ApiProperty() stuck: boolean;
  @ApiProperty({ enum: ['held_too_long', 'lease_overdue'], nullable: true, description: STUCK_RULE_DESCRIPTION }) stuckReason: string | null;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class ResourcePageDto {
  @ApiProperty({ description: 'Locks matching the filters (all pages)' }) total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
  @ApiProperty({ type: [ResourceDto] }) items: ResourceDto[];
  @ApiProperty({ format: 'date-time', description: 'Database time of the snapshot' }) at: string;
}

export class ResourceDetailDto extends ResourceDto {
  @ApiProperty({
    type: [WaiterDto],
    description:
      'Every waiter that can use this resource, in the global order (at most 1,000): tickets naming it, alone or in a set, and the waiting tickets of its pools. ' +
      'Its length is `queueLength` + `poolWaiters` (up to the limit).',
  })
  queue: WaiterDto[];
}
