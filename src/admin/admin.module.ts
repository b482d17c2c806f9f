import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeyEntity } from '../auth/api-key.entity';
import { AuthModule } from '../auth/auth.module';
import { KeyHasher, Sha256KeyHasher } from '../auth/key-hasher';
import { UserEntity } from '../auth/user.entity';
import { MetricsModule } from '../metrics/metrics.module';
import { AdminEventsController } from './admin-events.controller';
import { AdminEventsService } from './admin-events.service';
import { AdminKeysController } from './admin-keys.controller';
import { AdminKeysService } from './admin-keys.service';
import { AdminPoolsController } from './admin-pools.controller';
import { AdminPoolsService } from './admin-pools.service';
import { AdminResourcesController } from './admin-resources.controller';
import { AdminResourcesService } from './admin-resources.service';
import { DashboardAssetsService } from './dashboard-assets.service';
import { DashboardController } from './dashboard.controller';
import { LockEventQueries } from './lock-event.queries';
import { LockOverviewQueries } from './lock-overview.queries';
import { PoolOverviewQueries } from './pool-overview.queries';

/** The owner's view: resources and pools overview, stuck locks, audit trail, API keys, dashboard, metrics. */
@Module({
  imports: [AuthModule, TypeOrmModule.forFeature([UserEntity, ApiKeyEntity]), MetricsModule],
  controllers: [AdminResourcesController, AdminPoolsController, AdminEventsController, AdminKeysController, DashboardController],
  providers: [
    { provide: KeyHasher, useClass: Sha256KeyHasher },
    LockOverviewQueries,
    PoolOverviewQueries,
    LockEventQueries,
    AdminResourcesService,
    AdminPoolsService,
    AdminEventsService,
    AdminKeysService,
    DashboardAssetsService,
  ],
})
export class AdminModule {}
