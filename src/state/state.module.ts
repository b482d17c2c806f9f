import { Module } from '@nestjs/common';
import { PostgresStateStore } from './postgres-state-store';
import { StateController } from './state.controller';
import { StateStore } from './state-store';
import { StateService } from './state.service';
import { StateTtlPurge } from './state-ttl-purge.service';

/** The Dapr state management API on PostgreSQL. */
@Module({
  controllers: [StateController],
  providers: [StateService, { provide: StateStore, useClass: PostgresStateStore }, StateTtlPurge],
})
export class StateModule {}
