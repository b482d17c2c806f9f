import { Global, Module } from '@nestjs/common';
import { RedisConnections } from './redis-connections';
import { RedisService } from './redis.service';

@Global()
@Module({ providers: [RedisConnections, RedisService], exports: [RedisConnections, RedisService] })
export class RedisModule {}
