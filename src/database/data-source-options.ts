import { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { ENTITIES } from './entities';

/** The one TypeORM configuration, shared by the application and the migration CLI. */
export function dataSourceOptions(databaseUrl: string, poolSize = 20): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    logging: ['error'],
    extra: {
      max: poolSize,
      connectionTimeoutMillis: 5_000,
      // Keep a dead server from hanging a request forever; the service answers 503 instead.
      query_timeout: 30_000,
      application_name: 'queue-mutex',
    },
  };
}
