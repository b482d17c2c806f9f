import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { RedisMode } from '../config/app-config';
import { BullmqQueues } from './bullmq-queues';
import { BullmqRecurringJobs } from './bullmq-recurring-jobs';
import { RecurringJobs } from './recurring-jobs';
import { TimerRecurringJobs } from './timer-recurring-jobs';

/** Background jobs: on BullMQ when Redis is configured, else on this instance's own timers. */
@Global()
@Module({})
export class JobsModule {
  static forRoot(redisMode: RedisMode): DynamicModule {
    const providers: Provider[] =
      redisMode === 'none'
        ? [{ provide: RecurringJobs, useClass: TimerRecurringJobs }]
        : [BullmqQueues, { provide: RecurringJobs, inject: [BullmqQueues], useFactory: (queues: BullmqQueues) => new BullmqRecurringJobs(queues) }];
    return { module: JobsModule, providers, exports: providers.map((p) => ('provide' in p ? p.provide : p)) };
  }
}
