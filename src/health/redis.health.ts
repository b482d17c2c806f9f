import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { RedisConnections } from '../redis/redis-connections';
import { RedisService } from '../redis/redis.service';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly redis: RedisService,
    private readonly connections: RedisConnections,
    private readonly indicator: HealthIndicatorService,
  ) {}

  /** Up when it answers a ping; also up when none is configured (a mode of its own, not an outage). */
  async isHealthy(key: string) {
    const check = this.indicator.check(key);
    const mode = this.connections.mode;
    if (mode === 'none') return check.up({ mode, message: 'not configured' });
    try {
      await this.redis.ping(1_000);
      return check.up({ mode });
    } catch (err) {
      return check.down({ mode, message: (err as Error).message });
    }
  }
}
