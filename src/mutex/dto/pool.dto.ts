import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsOptional, IsString, MaxLength } from 'class-validator';
import { HasNoDuplicates, IsDisplayText, IsLockName } from '../../common/lock-name.validator';
import { MAX_POOL_SIZE, TicketDto } from './lock.dto';

export class PutPoolDto {
  @ApiProperty({
    type: [String],
    example: ['uat-1', 'uat-2', 'uat-3', 'uat-4'],
    minItems: 1,
    maxItems: MAX_POOL_SIZE,
    uniqueItems: true,
    description: `Its members: resources of the repository (1-${MAX_POOL_SIZE} distinct names, none of them a pool's name)`,
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_POOL_SIZE)
  @HasNoDuplicates('resources must not name a resource twice')
  @IsLockName('resources', { each: true })
  resources: string[];

  @ApiPropertyOptional({ example: 'The four UAT orgs; any one will do for a test run', maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  @IsDisplayText('description')
  description?: string;
}

export class PoolMemberDto {
  @ApiProperty({ example: 'uat-2' }) resource: string;
  @ApiProperty({ enum: ['free', 'held'] }) state: 'free' | 'held';
  @ApiProperty({ type: TicketDto, nullable: true, description: 'The ticket holding it (through this pool, by name, or through another pool)' }) holder: TicketDto | null;
  @ApiProperty({ description: 'The last fencing token issued on it' }) lastFencingToken: number;
}

export class PoolDto {
  @ApiProperty({ example: 'flxbl-io/sf-core' }) repository: string;
  @ApiProperty({ example: 'uat-orgs' }) name: string;
  @ApiProperty({ type: String, nullable: true }) description: string | null;
  @ApiProperty({ example: 4, description: 'How many members it has' }) size: number;
  @ApiProperty({ example: 1 }) free: number;
  @ApiProperty({ example: 3 }) held: number;
  @ApiProperty({ type: [PoolMemberDto], description: 'In the order the owner listed them' }) members: PoolMemberDto[];
  @ApiProperty({ type: [TicketDto], description: 'Its waiting tickets, in order (queuePosition counts every earlier waiter that can use a member)' }) queue: TicketDto[];
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

export class DeletedPoolDto {
  @ApiProperty({ example: 'uat-orgs' }) deleted: string;
  @ApiProperty({ description: 'Waiting tickets of the pool, now cancelled' }) cancelled: number;
  @ApiProperty({ type: [TicketDto] }) tickets: TicketDto[];
}
