import { BeforeApplicationShutdown, Global, Injectable, Module } from '@nestjs/common';

/** Knows whether the instance is shutting down, so answers can tell clients to reconnect elsewhere. */
@Injectable()
export class Lifecycle implements BeforeApplicationShutdown {
  closing = false;

  beforeApplicationShutdown(): void {
    this.closing = true;
  }
}

@Global()
@Module({ providers: [Lifecycle], exports: [Lifecycle] })
export class LifecycleModule {}
