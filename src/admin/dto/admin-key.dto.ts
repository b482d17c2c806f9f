import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { ROLES } from '../../auth/user.entity';
import { QueryInt } from './query-transforms';

export const KEY_STATUSES = ['active', 'expired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export class KeysQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only this user\'s keys' })
  @IsOptional() @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @ApiPropertyOptional({ enum: KEY_STATUSES })
  @IsOptional() @IsIn(KEY_STATUSES, { message: `status must be one of: ${KEY_STATUSES.join(', ')}` })
  status?: KeyStatus;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional() @QueryInt() @IsInt({ message: 'limit must be an integer between 1 and 500' }) @Min(1, { message: 'limit must be an integer between 1 and 500' }) @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional() @QueryInt() @IsInt({ message: 'offset must be a non-negative integer' }) @Min(0, { message: 'offset must be a non-negative integer' }) @Max(1_000_000)
  offset?: number;
}

export class CreateKeyDto {
  @ApiProperty({ format: 'uuid', description: 'An existing, not revoked user' })
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'When the key stops working (in the future)' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'expiresAt must be an ISO-8601 date-time' })
  expiresAt?: Date;
}

export class KeyOwnerDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ROLES }) role: string;
  @ApiProperty({ enum: ['user', 'anonymous'] }) kind: string;
  @ApiProperty({ type: [String], nullable: true, description: 'Repository patterns; null for all' }) repositories: string[] | null;
}

export class KeyDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ description: 'First characters of the key, to tell keys apart', example: 'mtx_AbCd' }) keyPrefix: string;
  @ApiProperty({ type: KeyOwnerDto }) user: KeyOwnerDto;
  @ApiProperty({ enum: KEY_STATUSES }) status: KeyStatus;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastUsedAt: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revokedAt: string | null;
}

export class CreatedKeyDto extends KeyDto {
  @ApiProperty({ description: 'The API key. Shown once: only its SHA-256 hash is stored.' }) apiKey: string;
}

export class KeyPageDto {
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
  @ApiProperty({ type: [KeyDto] }) items: KeyDto[];
}
