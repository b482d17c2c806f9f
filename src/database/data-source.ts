import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';

/** Used by the TypeORM CLI (`npm run migration:generate` / `migration:run`). */
const config = loadConfig(process.env);
export default new DataSource(dataSourceOptions(config.DATABASE_URL, 4));
