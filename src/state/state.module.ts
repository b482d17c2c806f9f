import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { PostgresStateRepository } from './postgres-state.repository';
import { STATE_TTL_QUEUE } from './state.constants';
import { StateController } from './state.controller';
import { StateRepository } from './state.repository';
import { StateService } from './state.service';
import { StateTtlProcessor } from './state-ttl.processor';

/** The Dapr state management API on PostgreSQL. */
@Module({
  imports: [BullModule.registerQueue({ name: STATE_TTL_QUEUE })],
  controllers: [StateController],
  providers: [StateService, { provide: StateRepository, useClass: PostgresStateRepository }, StateTtlProcessor],
})
export class StateModule {}
