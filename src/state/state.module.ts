import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { PostgresStateStore } from './postgres-state-store';
import { STATE_TTL_QUEUE } from './state.constants';
import { StateController } from './state.controller';
import { StateStore } from './state-store';
import { StateService } from './state.service';
import { StateTtlProcessor } from './state-ttl.processor';

/** The Dapr state management API on PostgreSQL. */
@Module({
  imports: [BullModule.registerQueue({ name: STATE_TTL_QUEUE })],
  controllers: [StateController],
  providers: [StateService, { provide: StateStore, useClass: PostgresStateStore }, StateTtlProcessor],
})
export class StateModule {}
