import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDate,
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { IsWellFormedText } from '../../common/lock-name.validator';
import { Role, ROLES } from '../user.entity';

export class CreateUserDto {
  @ApiProperty({ example: 'release-pipeline', maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  @Matches(/^[^\u0000-\u001f\u007f]*$/, { message: 'name must not contain control characters' })
  @IsWellFormedText('name')
  name: string;

  @ApiProperty({ enum: ROLES, example: 'application' })
  @IsIn(ROLES, { message: `role must be one of: ${ROLES.join(', ')}` })
  role: Role;

  @ApiPropertyOptional({
    type: [String],
    example: ['flxbl-io/*'],
    description: 'Repository patterns this key may touch (`*` matches anything). Omit for all repositories.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  @MaxLength(300, { each: true })
  @Matches(/^[^\s]+$/, { each: true, message: 'repositories must not contain whitespace' })
  repositories?: string[];

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'When the key stops working.' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'expiresAt must be an ISO-8601 date-time' })
  expiresAt?: Date;
}

export class UserDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ROLES }) role: Role;
  @ApiProperty({ type: [String], nullable: true }) repositories: string[] | null;
  @ApiProperty({ enum: ['user', 'anonymous', 'bootstrap'] }) kind: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) revokedAt?: string | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) keyExpiresAt?: string | null;
  @ApiPropertyOptional({ description: 'First characters of the API key' }) keyPrefix?: string;
}

export class CreatedUserDto extends UserDto {
  @ApiProperty({ description: 'The API key. Shown once: only its hash is stored.' })
  apiKey: string;
}
