import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { MAX_NAME_LENGTH as MAX } from '../../common/lock-name';
import { IsLockName } from '../../common/lock-name.validator';

export class SyncLockDto {
  @ApiProperty({ example: 'resource-123', maxLength: MAX, description: 'The name/identifier of the lock to acquire' })
  @IsLockName('lockName')
  lockName: string;

  @ApiProperty({ example: 'service-a', maxLength: MAX, description: 'Identifier of the entity requesting the lock' })
  @IsLockName('requester')
  requester: string;
}

export class SyncUnlockDto {
  @ApiProperty({ example: 'resource-123', maxLength: MAX })
  @IsLockName('lockName')
  lockName: string;

  @ApiProperty({ example: '550e8400-e29b-41d4-a716-446655440000', description: 'The leaseId returned when the lock was acquired' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX)
  leaseId: string;
}

export class SyncLockQueryDto {
  @ApiProperty({ example: 'resource-123', maxLength: MAX })
  @IsLockName('lockName')
  lockName: string;
}

export class AnonymousUserDto {
  @ApiProperty({ description: 'The unique identifier for the created user' }) userId: string;
  @ApiProperty({ format: 'uuid', description: 'The API key to use for authentication (shown once)' }) apiKey: string;
}

export class SyncLockResultDto {
  @ApiProperty({ description: 'Whether the lock was acquired' }) locked: boolean;
  @ApiPropertyOptional({ format: 'uuid', description: 'Identifier of this lease (only when locked is true)' }) leaseId?: string;
  @ApiProperty({ description: 'What happened; names the current holder when the lock is busy' }) message: string;
}

export class SyncLockInfoDto {
  @ApiProperty() lockName: string;
  @ApiProperty({ description: 'Whether the lock is currently held' }) locked: boolean;
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The current lease, null when free' }) leaseId: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The requester holding the lock, null when free' }) leasedBy: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When the current lease was created' }) createdAt: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'When the lock last changed' }) updatedAt: string | null;
  @ApiPropertyOptional({ format: 'date-time', nullable: true, type: String, description: 'When the current lease ends unless released' }) expiresAt?: string | null;
}

export class SyncLocksDto {
  @ApiProperty({ type: [SyncLockInfoDto] }) locks: SyncLockInfoDto[];
}

export class SyncUnlockResultDto {
  @ApiProperty({ description: 'Whether this call released the lock' }) unlocked: boolean;
  @ApiPropertyOptional({ description: 'Why not, when unlocked is false' }) message?: string;
}
