import { SetMetadata } from '@nestjs/common';
import { Role } from './user.entity';

export const ROLES_KEY = 'roles';
export const PUBLIC_KEY = 'isPublic';

/** Only these roles may call the handler (403 `Requires role: …` otherwise). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/** No API key needed. */
export const Public = () => SetMetadata(PUBLIC_KEY, true);
