import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { databaseUrlOf, loadConfig } from '../config/app-config';
import { ensureDatabase } from './database-bootstrap';
import { dataSourceOptions } from './data-source-options';

/**
 * Used by the TypeORM CLI (`npm run migration:generate` / `migration:run`): the same options
 * as the application, and the database is created first if it does not exist, as at start.
 */
const config = loadConfig(process.env);
if (!config.DATABASE_URL) throw new Error('The migration CLI needs DATABASE_URL (it does not start the embedded PostgreSQL; `npm start` migrates that one itself)');
const url = databaseUrlOf(config);
export default ensureDatabase(url).then(() => new DataSource(dataSourceOptions(url, 4)));
