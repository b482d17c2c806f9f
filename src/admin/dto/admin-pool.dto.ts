import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { PoolDto } from '../../mutex/dto/pool.dto';
import { QueryBoolean, QueryInt, TextFilter } from './query-transforms';

export class PoolsQueryDto {
  @ApiPropertyOptional({ description: 'Only this repository (exact)', example: 'flxbl-io/sf-core' })
  @TextFilter('repository')
  repository?: string;

  @ApiPropertyOptional({ description: 'Only pools whose name starts with this', example: 'uat-' })
  @TextFilter('prefix')
  prefix?: string;

  @ApiPropertyOptional({ description: 'Only pools whose name, repository or a member\'s name contains this (case-insensitive)', example: 'uat' })
  @TextFilter('contains')
  contains?: string;

  @ApiPropertyOptional({ description: 'Only pools with a held member or a waiting ticket' })
  @IsOptional() @QueryBoolean() @IsBoolean({ message: 'active must be true or false' })
  active?: boolean;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional() @QueryInt() @IsInt({ message: 'limit must be an integer between 1 and 500' }) @Min(1, { message: 'limit must be an integer between 1 and 500' }) @Max(500, { message: 'limit must be an integer between 1 and 500' })
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional() @QueryInt() @IsInt({ message: 'offset must be a non-negative integer' }) @Min(0, { message: 'offset must be a non-negative integer' }) @Max(1_000_000)
  offset?: number;
}

export class PoolPageDto {
  @ApiProperty({ example: 1, description: 'Pools matching the filters (all pages)' }) total: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 0 }) offset: number;
  @ApiProperty({
    type: [PoolDto],
    description: 'By repository, then name: each pool with its members (free or held, and by which ticket) and its whole queue (its waiting tickets, in the global order)',
  })
  items: PoolDto[];
  @ApiProperty({ format: 'date-time', description: 'Database time of the snapshot' }) at: string;
}
