import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsNumber, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { MAX_NAME_LENGTH, nameProblem } from '../../common/lock-name';
import { DISPLAY_TEXT, HasNoDuplicates, IsDisplayText, IsLockName, WELL_FORMED_TEXT } from '../../common/lock-name.validator';
import { registerCompiledBodyCheck } from '../../common/validation';
import { IsTicketMetadata, METADATA_MAX_ENTRIES, METADATA_MAX_KEY_LENGTH, METADATA_MAX_VALUE_LENGTH, metadataProblem } from './ticket-metadata.validator';

/** Most resources one ticket may ask for by name. */
export const MAX_SET_SIZE = 16;
/** Most members a pool may have. */
export const MAX_POOL_SIZE = 100;

const METADATA_EXAMPLE = {
  ciUrl: 'https://github.com/flxbl-io/sf-core/actions/runs/123456789',
  commit: '4f2a9c1e8b7d',
  ref: 'refs/heads/main',
  job: 'deploy-uat',
};

export class QueueLockDto {
  @ApiProperty({ example: 'flxbl-io/sf-core', minLength: 1, maxLength: MAX_NAME_LENGTH })
  @IsLockName('repository')
  repository: string;

  @ApiPropertyOptional({ example: 'uat-org', minLength: 1, maxLength: MAX_NAME_LENGTH, description: 'The resource to lock. Give exactly one of `resource`, `resources` or `pool`.' })
  @IsOptional()
  @IsLockName('resource')
  resource?: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['sf-core-source', 'sf-core-uat'],
    minItems: 1,
    maxItems: MAX_SET_SIZE,
    uniqueItems: true,
    description: `Several resources of the repository, granted all at once or not at all (1-${MAX_SET_SIZE} distinct names). In the global order, so two tickets asking for {A, B} and {B, A} never deadlock.`,
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SET_SIZE)
  @HasNoDuplicates('resources must not name a resource twice')
  @IsLockName('resources', { each: true })
  resources?: string[];

  @ApiPropertyOptional({ example: 'uat-orgs', minLength: 1, maxLength: MAX_NAME_LENGTH, description: 'A pool of the repository: the ticket is granted `count` of its free members (the one free the longest first).' })
  @IsOptional()
  @IsLockName('pool')
  pool?: string;

  @ApiPropertyOptional({ type: 'integer', example: 1, minimum: 1, maximum: MAX_POOL_SIZE, description: 'With `pool`: how many members (1 when not given), at most the pool\'s size' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_POOL_SIZE)
  count?: number;

  @ApiProperty({
    example: 900,
    minimum: 1,
    description: 'Lease length once granted, in seconds, at most MAX_LEASE_SECONDS (86400 by default); a fraction is rounded up to a whole second',
  })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  leaseDurationSeconds: number;

  @ApiPropertyOptional({ example: 'Deploying release 42', maxLength: 500, description: 'Shown to others' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  @IsDisplayText('reason')
  reason?: string;

  @ApiPropertyOptional({ example: 3600, type: 'integer', minimum: 1, maximum: 604_800, description: 'Give up the place in the queue after this many seconds of waiting' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(604_800)
  waitTimeoutSeconds?: number;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: METADATA_MAX_VALUE_LENGTH },
    maxProperties: METADATA_MAX_ENTRIES,
    example: METADATA_EXAMPLE,
    description: `Where the ticket came from, shown with it everywhere: at most ${METADATA_MAX_ENTRIES} printable string pairs, keys ≤ ${METADATA_MAX_KEY_LENGTH} and values ≤ ${METADATA_MAX_VALUE_LENGTH} characters`,
  })
  @IsOptional()
  @IsTicketMetadata()
  metadata?: Record<string, string>;
}

/**
 * The compiled check of a QueueLockDto body (see CompiledBodyCheck): each field absent or plainly
 * valid by the decorators above, or undefined, and class-validator decides (and words the 400).
 * It errs towards undefined: a null optional field, a `reason` longer than 500 UTF-16 units
 * (MaxLength counts a surrogate pair as one character), a metadata key that class-transformer
 * would not copy (a name of Object.prototype).
 */
const isName = (v: unknown): v is string => typeof v === 'string' && nameProblem(v) === null;
const isIntIn = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function copyOfResources(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_SET_SIZE) return undefined;
  for (const name of v) if (!isName(name)) return undefined;
  return new Set(v).size === v.length ? v.slice() : undefined;
}

function copyOfMetadata(v: unknown): Record<string, string> | undefined {
  if (metadataProblem(v) !== null) return undefined;
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(v as Record<string, string>)) {
    if (key in Object.prototype) return undefined;
    copy[key] = value;
  }
  return copy;
}

export function checkQueueLockBody(body: unknown): QueueLockDto | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  if (!isName(b.repository)) return undefined;
  if (b.resource !== undefined && !isName(b.resource)) return undefined;
  if (b.pool !== undefined && !isName(b.pool)) return undefined;
  if (b.count !== undefined && !isIntIn(b.count, 1, MAX_POOL_SIZE)) return undefined;
  const lease = b.leaseDurationSeconds;
  if (typeof lease !== 'number' || !Number.isFinite(lease) || lease < 1) return undefined;
  const reason = b.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500 || !DISPLAY_TEXT.test(reason) || !WELL_FORMED_TEXT.test(reason))) return undefined;
  if (b.waitTimeoutSeconds !== undefined && !isIntIn(b.waitTimeoutSeconds, 1, 604_800)) return undefined;
  let resources: string[] | undefined;
  if (b.resources !== undefined && (resources = copyOfResources(b.resources)) === undefined) return undefined;
  let metadata: Record<string, string> | undefined;
  if (b.metadata !== undefined && (metadata = copyOfMetadata(b.metadata)) === undefined) return undefined;
  const dto = new QueueLockDto();
  dto.repository = b.repository;
  dto.resource = b.resource as string | undefined;
  dto.resources = resources;
  dto.pool = b.pool as string | undefined;
  dto.count = b.count as number | undefined;
  dto.leaseDurationSeconds = lease;
  dto.reason = reason as string | undefined;
  dto.waitTimeoutSeconds = b.waitTimeoutSeconds as number | undefined;
  dto.metadata = metadata;
  return dto;
}

registerCompiledBodyCheck(QueueLockDto, checkQueueLockBody);

export class RenewLockDto {
  @ApiPropertyOptional({
    example: 900,
    minimum: 1,
    description: "New lease length from now, at most MAX_LEASE_SECONDS; defaults to the ticket's lease length; a fraction is rounded up",
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  leaseDurationSeconds?: number;
}

export class AcquireQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 60, description: 'Long-poll: wait up to this many seconds for the grant' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'waitSeconds must be an integer between 0 and 60' })
  @Min(0)
  @Max(60)
  waitSeconds?: number;
}

export class RequesterDto {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
}

export class TicketDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid', description: 'Same as id' }) ticketId: string;
  @ApiProperty() repository: string;
  @ApiProperty({ description: 'Its first resource: the one asked for, the first of `resources`, the first pool member it got (the pool\'s name while a pool ticket waits)' })
  resource: string;
  @ApiProperty({ type: [String], example: ['sf-core-source', 'sf-core-uat'], description: 'Every resource, in the order asked (a pool ticket: the members it got, none while it waits)' })
  resources: string[];
  @ApiProperty({ type: String, nullable: true, example: null, description: 'The pool it asks for members of; null when it names its resources' })
  pool: string | null;
  @ApiProperty({ example: 2, description: 'How many resources it asks for: 1, the number of `resources`, or a pool ticket\'s `count`' })
  count: number;
  @ApiProperty({ enum: ['queued', 'acquired', 'released'] }) status: string;
  @ApiPropertyOptional({ description: '1 for the first waiter, 0 while acquired; absent once released' }) queuePosition?: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) leaseStart: string | null;
  @ApiProperty() leaseDurationSeconds: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) leaseExpiresAt: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Strictly increasing per lock with every grant (of its first resource)' }) fencingToken: number | null;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { 'sf-core-source': 41, 'sf-core-uat': 7 },
    description: 'Each resource\'s fencing token, once granted ({} before)',
  })
  fencingTokens: Record<string, number>;
  @ApiProperty({ type: RequesterDto }) requestedBy: RequesterDto;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, example: METADATA_EXAMPLE, description: 'Where the ticket came from; empty when none was given' })
  metadata: Record<string, string>;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) waitTimeoutAt: string | null;
  @ApiProperty({ enum: ['released', 'expired', 'cleared', 'cancelled', 'timed_out'], nullable: true }) releaseReason: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) releasedAt: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class AcquireResultDto {
  @ApiProperty() acquired: boolean;
  @ApiProperty() message: string;
  @ApiProperty({ type: TicketDto }) ticket: TicketDto;
}

export class ClearResultDto {
  @ApiProperty() cleared: number;
  @ApiProperty() message: string;
  @ApiProperty({ type: [TicketDto] }) tickets: TicketDto[];
}
