import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/app-config';
import { ensureDatabase } from './database-bootstrap';
import { dataSourceOptions } from './data-source-options';

/**
 * Used by the TypeORM CLI (`npm run migration:generate` / `migration:run`): the same options
 * as the application, and the database is created first if it does not exist, as at start.
 */
const config = loadConfig(process.env);
export default ensureDatabase(config.DATABASE_URL).then(() => new DataSource(dataSourceOptions(config.DATABASE_URL, 4)));
