import { Module } from '@nestjs/common';
import { PostgresStateRepository } from './postgres-state.repository';
import { StateController } from './state.controller';
import { StateRepository } from './state.repository';
import { StateService } from './state.service';
import { StateTtlPurge } from './state-ttl-purge.service';

/** The Dapr state management API on PostgreSQL. */
@Module({
  controllers: [StateController],
  providers: [StateService, { provide: StateRepository, useClass: PostgresStateRepository }, StateTtlPurge],
})
export class StateModule {}
