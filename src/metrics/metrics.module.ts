import { Module } from '@nestjs/common';
import { MutexModule } from '../mutex/mutex.module';
import { LockGaugesRepository } from './lock-gauges.repository';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** `GET /metrics` for Prometheus; fed by MutexEventBus and a Fastify response hook. */
@Module({
  imports: [MutexModule],
  controllers: [MetricsController],
  providers: [LockGaugesRepository, MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
