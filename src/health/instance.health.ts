import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Lifecycle } from '../common/lifecycle';

/** Down while the instance drains before it stops, so a load balancer takes it out of rotation first. */
@Injectable()
export class InstanceHealthIndicator {
  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly indicator: HealthIndicatorService,
  ) {}

  isServing(key: string) {
    const check = this.indicator.check(key);
    return this.lifecycle.closing ? check.down({ message: 'shutting down' }) : check.up();
  }
}
