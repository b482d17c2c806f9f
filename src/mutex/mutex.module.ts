import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { LockSweeper } from './lock-sweeper.service';
import { LockTimers } from './lock-timers.service';
import { LockTimersProcessor } from './lock-timers.processor';
import { LocksController } from './locks.controller';
import { PoolsController } from './pools.controller';
import { MutexEventBus } from './mutex-event-bus';
import { LOCK_TIMERS_QUEUE } from './mutex.constants';
import { LockStore } from './lock-store';
import { PostgresLockStore } from './postgres-lock-store';
import { MutexService } from './mutex.service';
import { Wakeups } from './wakeups.service';

@Module({
  imports: [BullModule.registerQueue({ name: LOCK_TIMERS_QUEUE })],
  controllers: [LocksController, PoolsController],
  providers: [
    { provide: LockStore, useClass: PostgresLockStore },
    MutexService,
    MutexEventBus,
    LockTimers,
    LockTimersProcessor,
    LockSweeper,
    Wakeups,
  ],
  exports: [MutexService, MutexEventBus, LockStore, LockSweeper, LockTimers, Wakeups],
})
export class MutexModule {}
