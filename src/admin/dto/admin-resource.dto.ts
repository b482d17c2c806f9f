import { MAX_NAME_LENGTH } from '../../common/lock-name';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { STUCK_RULE_DESCRIPTION } from '../stuck-rule';
import { QueryBoolean, QueryInt } from './query-transforms';

const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

export class ResourcesQueryDto {
  @ApiPropertyOptional({ description: 'Only this repository (exact)', example: 'flxbl-io/sf-core' })
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(MAX_NAME_LENGTH) @Matches(PRINTABLE, { message: 'repository must not contain control characters' })
  repository?: string;

  @ApiPropertyOptional({ description: 'Only resources whose name starts with this', example: 'uat-' })
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(MAX_NAME_LENGTH) @Matches(PRINTABLE, { message: 'prefix must not contain control characters' })
  prefix?: string;

  @ApiPropertyOptional({ description: 'Only locks whose repository or resource contains this (case-insensitive)', example: 'uat' })
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(MAX_NAME_LENGTH) @Matches(PRINTABLE, { message: 'contains must not contain control characters' })
  contains?: string;

  @ApiPropertyOptional({ description: 'true: only locks that have a holder; false: only free locks' })
  @IsOptional() @QueryBoolean() @IsBoolean({ message: 'held must be true or false' })
  held?: boolean;

  @ApiPropertyOptional({ description: 'Only locks with a holder or a queue' })
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
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(MAX_NAME_LENGTH) @Matches(PRINTABLE, { message: 'repository must not contain control characters' })
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

export class HolderDto {
  @ApiProperty({ format: 'uuid' }) ticketId: string;
  @ApiProperty({ type: ActorDto }) requestedBy: ActorDto;
  @ApiProperty({ format: 'date-time', description: 'When the lease started (the grant)' }) since: string;
  @ApiProperty({ description: 'Seconds held so far' }) heldSeconds: number;
  @ApiProperty({ format: 'date-time' }) leaseExpiresAt: string;
  @ApiProperty({ description: 'Seconds until the lease ends (negative when overdue)' }) leaseRemainingSeconds: number;
  @ApiProperty() leaseDurationSeconds: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) renewedAt: string | null;
  @ApiProperty() fencingToken: number;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Where the ticket came from (CI run URL, commit, ref, job…)' }) metadata: Record<string, string>;
  @ApiProperty({ enum: ['sfp', 'dapr', 'synchronize'] }) source: string;
}

export class WaiterDto {
  @ApiProperty({ format: 'uuid' }) ticketId: string;
  @ApiProperty({ description: '1 for the next in line' }) position: number;
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
  @ApiProperty({ description: 'Tickets waiting' }) queueLength: number;
  @ApiProperty({ type: WaiterDto, nullable: true, description: 'The next in line (the oldest waiter)' }) nextWaiter: WaiterDto | null;
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
  @ApiProperty({ type: [WaiterDto], description: 'The whole queue in order (at most 1,000)' }) queue: WaiterDto[];
}
