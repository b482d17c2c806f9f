import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, Matches, Max, Min } from 'class-validator';
import { ActorDto } from './admin-resource.dto';
import { QueryInt, TextFilter } from './query-transforms';

export const EVENT_TYPES = ['queued', 'granted', 'renewed', 'released', 'expired', 'cleared', 'cancelled', 'timed_out'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export class EventsQueryDto {
  @ApiPropertyOptional({ description: 'Only this repository (exact)', example: 'flxbl-io/sf-core' })
  @TextFilter('repository')
  repository?: string;

  @ApiPropertyOptional({
    description: 'Only events of tickets for this resource (exact): by itself, as any resource of a set, or as a pool member a ticket got',
    example: 'uat-org',
  })
  @TextFilter('resource')
  resource?: string;

  @ApiPropertyOptional({ description: 'Only events of tickets for members of this pool (exact), waiting or granted', example: 'uat-orgs' })
  @TextFilter('pool')
  pool?: string;

  @ApiPropertyOptional({ description: 'Actor: a user id (UUID) or a name (`system` for expiries and time-outs)' })
  @TextFilter('actor', 200)
  actor?: string;

  @ApiPropertyOptional({ description: `Comma-separated event types: ${EVENT_TYPES.join(', ')}`, example: 'granted,expired' })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value))
  @IsIn(EVENT_TYPES, { each: true, message: `type must be a comma-separated list of: ${EVENT_TYPES.join(', ')}` })
  type?: EventType[];

  @ApiPropertyOptional({ format: 'date-time', description: 'Events at or after this time (ISO-8601)' })
  @IsOptional() @IsISO8601({ strict: true }, { message: 'from must be an ISO-8601 date-time' })
  from?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Events before this time (ISO-8601)' })
  @IsOptional() @IsISO8601({ strict: true }, { message: 'to must be an ISO-8601 date-time' })
  to?: string;

  @ApiPropertyOptional({ description: 'The `nextCursor` of the previous page' })
  @IsOptional() @Matches(/^[1-9]\d{0,17}$/, { message: 'cursor must be the nextCursor of a previous page' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @QueryInt() @IsInt({ message: 'limit must be an integer between 1 and 500' }) @Min(1, { message: 'limit must be an integer between 1 and 500' }) @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;
}

export class EventDto {
  @ApiProperty({ description: 'Increasing with time; the cursor' }) id: number;
  @ApiProperty({ enum: EVENT_TYPES }) type: EventType;
  @ApiProperty({ example: 'flxbl-io/sf-core' }) repository: string;
  @ApiProperty({ example: 'sf-core-src', description: 'The ticket\'s (first) resource; a waiting pool ticket\'s pool name' }) resource: string;
  @ApiProperty({
    type: [String],
    nullable: true,
    example: ['sf-core-src', 'sf-core-uat'],
    description: 'Every resource of a set\'s ticket, or the members a pool ticket got; null for a ticket of one resource, and while a pool ticket waits',
  })
  resources: string[] | null;
  @ApiProperty({ type: String, nullable: true, example: null, description: 'The pool of a pool ticket; null otherwise' }) pool: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) ticketId: string | null;
  @ApiProperty({ type: ActorDto }) actor: ActorDto;
  @ApiProperty({ type: Number, nullable: true }) fencingToken: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'The requester\'s reason, or why the system acted' }) reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: "The ticket's metadata: where it came from (empty once the ticket is purged)" })
  metadata: Record<string, string>;
  @ApiProperty({ format: 'date-time' }) at: string;
}

export class EventPageDto {
  @ApiProperty({ type: [EventDto], description: 'Newest first' }) items: EventDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next (older) page; null on the last page' }) nextCursor: string | null;
  @ApiProperty() limit: number;
}
