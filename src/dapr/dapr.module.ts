import { Module } from '@nestjs/common';
import { DaprSidecarController } from './dapr-sidecar.controller';

@Module({ controllers: [DaprSidecarController] })
export class DaprModule {}
