import { ApiKeyEntity } from '../auth/api-key.entity';
import { UserEntity } from '../auth/user.entity';

/** Every TypeORM entity; the lock rules run as SQL functions instead (src/mutex/sql). */
export const ENTITIES = [UserEntity, ApiKeyEntity];
