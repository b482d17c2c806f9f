import { Module } from '@nestjs/common';
import { MutexModule } from '../mutex/mutex.module';
import { LockGaugeQueries } from './lock-gauge.queries';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** `GET /metrics` for Prometheus; fed by MutexEventBus and a Fastify response hook. */
@Module({
  imports: [MutexModule],
  controllers: [MetricsController],
  providers: [LockGaugeQueries, MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
