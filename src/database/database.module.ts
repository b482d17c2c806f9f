import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig, databaseUrlOf } from '../config/app-config';
import { ensureDatabase, migrateUnderLock } from './database-bootstrap';
import { dataSourceOptions } from './data-source-options';
import { PgNotifications } from './pg-notifications';
import { PgPool } from './pg-pool';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => dataSourceOptions(databaseUrlOf(config), config.DATABASE_POOL_SIZE),
      dataSourceFactory: async (options) => {
        const dataSource = new DataSource(options!);
        await ensureDatabase((options as { url: string }).url);
        await dataSource.initialize();
        await migrateUnderLock(dataSource);
        return dataSource;
      },
    }),
  ],
  providers: [PgPool, PgNotifications],
  exports: [PgPool, PgNotifications],
})
export class DatabaseModule {}
