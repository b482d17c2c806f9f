import { ApiKeyEntity } from '../auth/api-key.entity';
import { UserEntity } from '../auth/user.entity';

/** Every TypeORM entity; the hot lock path uses SQL functions instead (see migrations). */
export const ENTITIES = [UserEntity, ApiKeyEntity];
