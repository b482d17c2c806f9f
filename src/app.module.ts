import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import { AuthModule } from './auth/auth.module';
import { AppConfig, redisModeOf } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { LifecycleModule } from './common/lifecycle';
import { HealthModule } from './health/health.module';
import { JobsModule } from './jobs/jobs.module';
import { AdminModule } from './admin/admin.module';
import { DaprModule } from './dapr/dapr.module';
import { MutexModule } from './mutex/mutex.module';
import { StateModule } from './state/state.module';
import { SynchronizeModule } from './synchronize/synchronize.module';
import { RedisModule } from './redis/redis.module';
import { RedisThrottlerStorage } from './redis/redis-throttler.storage';
import { RedisService } from './redis/redis.service';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LifecycleModule,
        LoggerModule.forRoot({
          // pino-http's per-request middleware cost a fifth of the service's CPU per request: it is
          // bound to no route, and access lines come from a cheap Fastify hook (see app.factory).
          forRoutes: [],
          pinoHttp: {
            level: config.LOG_LEVEL,
            transport: config.LOG_PRETTY ? { target: 'pino-pretty' } : undefined,
            // Keys are secrets: never logged.
            redact: {
              paths: ['req.headers.authorization', 'req.headers["dapr-api-token"]', 'req.headers.cookie', 'apiKey', '*.apiKey'],
              censor: '[redacted]',
            },
          },
        }),
        DatabaseModule,
        RedisModule,
        JobsModule.forRoot(redisModeOf(config)),
        ThrottlerModule.forRootAsync({
          inject: [RedisService],
          useFactory: (redis: RedisService) => ({
            throttlers: [{ name: 'default', ttl: 60_000, limit: config.SYNCHRONIZE_ANONYMOUS_PER_MINUTE }],
            // Shared by all instances through Redis; without Redis (one instance) in memory.
            storage: redis.configured ? new RedisThrottlerStorage(redis) : new ThrottlerStorageService(),
          }),
        }),
        AuthModule,
        HealthModule,
        MutexModule,
        DaprModule,
        SynchronizeModule,
        StateModule,
        AdminModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: HttpExceptionFilter }],
    };
  }
}
