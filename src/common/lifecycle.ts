import { BeforeApplicationShutdown, Global, Injectable, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

/** Knows whether the instance is shutting down, so answers can tell clients to reconnect elsewhere. */
@Injectable()
export class Lifecycle implements BeforeApplicationShutdown {
  closing = false;

  constructor(private readonly config: AppConfig) {}

  /**
   * Before the HTTP server closes: keep answering for SHUTDOWN_DRAIN_MS, every answer with
   * `Connection: close`, so kept-alive clients leave between two requests rather than have an
   * idle socket closed under a request they are sending (an ECONNRESET, not a clean answer).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.config.SHUTDOWN_DRAIN_MS > 0) await new Promise((r) => setTimeout(r, this.config.SHUTDOWN_DRAIN_MS));
  }
}

@Global()
@Module({ providers: [Lifecycle], exports: [Lifecycle] })
export class LifecycleModule {}
