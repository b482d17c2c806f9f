import { DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { BullModule } from '@nestjs/bullmq';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import { AuthModule } from './auth/auth.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { LifecycleModule } from './common/lifecycle';
import { HealthModule } from './health/health.module';
import { AdminModule } from './admin/admin.module';
import { DaprModule } from './dapr/dapr.module';
import { MutexModule } from './mutex/mutex.module';
import { StateModule } from './state/state.module';
import { SynchronizeModule } from './synchronize/synchronize.module';
import { RedisModule } from './redis/redis.module';
import { RedisThrottlerStorage } from './redis/redis-throttler.storage';
import { RedisService } from './redis/redis.service';

const HOT_PATHS = [
  { path: 'sfp/api/locks', method: RequestMethod.POST },
  { path: 'sfp/api/locks/*path', method: RequestMethod.ALL },
  { path: 'v1.0-alpha1/*path', method: RequestMethod.POST },
  { path: 'v1.0/state/*path', method: RequestMethod.ALL },
  { path: 'api/v0/*path', method: RequestMethod.ALL },
];

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LifecycleModule,
        LoggerModule.forRoot({
          // No per-request access log on the lock hot paths: it cost a fifth of the service's CPU
          // per request. Their failures are still logged, with the request id, by the error filter.
          exclude: HOT_PATHS,
          pinoHttp: {
            level: config.LOG_LEVEL,
            transport: config.LOG_PRETTY ? { target: 'pino-pretty' } : undefined,
            // Keys are secrets: never logged.
            redact: {
              paths: ['req.headers.authorization', 'req.headers["dapr-api-token"]', 'req.headers.cookie', 'apiKey', '*.apiKey'],
              censor: '[redacted]',
            },
            autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' },
            customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug'),
          },
        }),
        DatabaseModule,
        RedisModule,
        BullModule.forRoot({
          connection: { url: config.REDIS_URL, maxRetriesPerRequest: null, enableOfflineQueue: true },
          prefix: `${config.REDIS_PREFIX}:bull`,
        }),
        ThrottlerModule.forRootAsync({
          inject: [RedisService],
          useFactory: (redis: RedisService) => ({
            throttlers: [{ name: 'default', ttl: 60_000, limit: config.SYNCHRONIZE_ANONYMOUS_PER_MINUTE }],
            storage: new RedisThrottlerStorage(redis),
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
