import { Module } from '@nestjs/common';
import { BullmqQueues } from '../jobs/bullmq-queues';
import { BullmqDeadlineJobs } from './bullmq-deadline-jobs';
import { DeadlineChecks } from './deadline-checks.service';
import { DeadlineJobs } from './deadline-jobs';
import { InProcessDeadlineJobs } from './in-process-deadline-jobs';
import { LockSweeper } from './lock-sweeper.service';
import { LockTimers } from './lock-timers.service';
import { LocksController } from './locks.controller';
import { PoolsController } from './pools.controller';
import { MutexEventBus } from './mutex-event-bus';
import { LockStore } from './lock-store';
import { PostgresLockStore } from './postgres-lock-store';
import { MutexService } from './mutex.service';
import { ReleasedTicketsPurge } from './released-tickets-purge.service';
import { Wakeups } from './wakeups.service';

@Module({
  controllers: [LocksController, PoolsController],
  providers: [
    { provide: LockStore, useClass: PostgresLockStore },
    // BullMQ where Redis is configured (JobsModule provides its queues), nothing durable without.
    {
      provide: DeadlineJobs,
      inject: [{ token: BullmqQueues, optional: true }],
      useFactory: (queues?: BullmqQueues) => (queues ? new BullmqDeadlineJobs(queues) : new InProcessDeadlineJobs()),
    },
    MutexService,
    MutexEventBus,
    LockTimers,
    DeadlineChecks,
    ReleasedTicketsPurge,
    LockSweeper,
    Wakeups,
  ],
  exports: [MutexService, MutexEventBus, LockStore, LockSweeper, LockTimers, Wakeups],
})
export class MutexModule {}
