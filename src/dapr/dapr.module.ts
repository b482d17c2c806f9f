import { Module } from '@nestjs/common';
import { MutexModule } from '../mutex/mutex.module';
import { DaprLockController } from './dapr-lock.controller';
import { DaprSidecarController } from './dapr-sidecar.controller';

@Module({ imports: [MutexModule], controllers: [DaprSidecarController, DaprLockController] })
export class DaprModule {}
