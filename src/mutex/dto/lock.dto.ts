import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsNumber, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

const NAME = /^[^\u0000-\u001f\u007f]+$/;
const NAME_MESSAGE = (field: string) => `${field} must not contain control characters`;

export class QueueLockDto {
  @ApiProperty({ example: 'flxbl-io/sf-core', maxLength: 300 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(300)
  @Matches(NAME, { message: NAME_MESSAGE('repository') })
  repository: string;

  @ApiProperty({ example: 'uat-org', maxLength: 300 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(300)
  @Matches(NAME, { message: NAME_MESSAGE('resource') })
  resource: string;

  @ApiProperty({ example: 900, description: 'Lease length once granted, in seconds (at most MAX_LEASE_SECONDS)' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(31_536_000)
  leaseDurationSeconds: number;

  @ApiPropertyOptional({ example: 'Deploying release 42', maxLength: 500, description: 'Shown to others' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  // Free text may span lines, but PostgreSQL cannot store a NUL character.
  @Matches(/^[^\u0000]*$/, { message: 'reason must not contain NUL (\\u0000) characters' })
  reason?: string;

  @ApiPropertyOptional({ example: 3600, description: 'Give up the place in the queue after this many seconds of waiting' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(604_800)
  waitTimeoutSeconds?: number;
}

export class RenewLockDto {
  @ApiPropertyOptional({ example: 900, description: 'New lease length from now; defaults to the ticket\'s lease length' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(31_536_000)
  leaseDurationSeconds?: number;
}

export class AcquireQueryDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 60, description: 'Long-poll: wait up to this many seconds for the grant' })
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
  @ApiProperty() resource: string;
  @ApiProperty({ enum: ['queued', 'acquired', 'released'] }) status: string;
  @ApiPropertyOptional({ description: '1 for the first waiter, 0 while acquired; absent once released' }) queuePosition?: number;
  @ApiProperty({ format: 'date-time', nullable: true }) leaseStart: string | null;
  @ApiProperty() leaseDurationSeconds: number;
  @ApiProperty({ format: 'date-time', nullable: true }) leaseExpiresAt: string | null;
  @ApiProperty({ nullable: true, description: 'Strictly increasing per lock with every grant' }) fencingToken: number | null;
  @ApiProperty({ type: RequesterDto }) requestedBy: RequesterDto;
  @ApiProperty({ nullable: true }) reason: string | null;
  @ApiProperty({ format: 'date-time', nullable: true }) waitTimeoutAt: string | null;
  @ApiProperty({ enum: ['released', 'expired', 'cleared', 'cancelled', 'timed_out'], nullable: true }) releaseReason: string | null;
  @ApiProperty({ format: 'date-time', nullable: true }) releasedAt: string | null;
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
