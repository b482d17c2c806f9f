import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

/**
 * `reflector.getAllAndOverride(key, [handler, class])`, remembered per handler and class: route
 * metadata is fixed once the app is built, and the guards on every request would otherwise ask
 * reflect-metadata twice each time.
 */
export class HandlerMetadataCache<T> {
  private readonly byClass = new WeakMap<object, WeakMap<object, { value: T | undefined }>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly key: string,
  ) {}

  get(context: ExecutionContext): T | undefined {
    const handler = context.getHandler();
    const cls = context.getClass();
    let byHandler = this.byClass.get(cls);
    if (!byHandler) this.byClass.set(cls, (byHandler = new WeakMap()));
    let entry = byHandler.get(handler);
    if (!entry) byHandler.set(handler, (entry = { value: this.reflector.getAllAndOverride<T>(this.key, [handler, cls]) }));
    return entry.value;
  }
}
