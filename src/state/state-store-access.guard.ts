import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Principal, repositoryAllowed } from '../auth/principal';
import { AppConfig } from '../config/app-config';

/**
 * A key limited to repositories reaches a state store only if its patterns allow the store's
 * name, as a Dapr lock store's name is the repository of its locks. An unknown store passes
 * through, so it still gets Dapr's own 400 ERR_STATE_STORE_NOT_FOUND first.
 */
@Injectable()
export class StateStoreAccessGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ user?: Principal; params: { store?: string } }>();
    const store = req.params.store;
    if (!req.user || store === undefined || !this.config.DAPR_STATE_STORES.includes(store)) return true;
    if (repositoryAllowed(req.user.repositories, store)) return true;
    throw new ForbiddenException(`This key may not access state store '${store}'`);
  }
}
