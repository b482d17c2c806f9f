import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { Public } from '../auth/roles.decorator';
import { InstanceHealthIndicator } from './instance.health';
import { RedisHealthIndicator } from './redis.health';

@ApiTags('Operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    private readonly instance: InstanceHealthIndicator,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  @ApiOperation({
    summary: 'Health',
    description: 'PostgreSQL and Redis are checked (without Redis configured: `redis` is up, "not configured"); no key needed. 503 also while the instance drains before it stops.',
  })
  @ApiOkResponse({ description: 'PostgreSQL answers, and Redis too where one is configured' })
  @ApiServiceUnavailableResponse({ description: 'PostgreSQL or Redis is down, or the instance is shutting down' })
  check() {
    return this.health.check([
      () => this.db.pingCheck('postgres', { timeout: 1_500 }),
      () => this.redis.isHealthy('redis'),
      () => this.instance.isServing('instance'),
    ]);
  }
}
