import { Auth1763800000000 } from './1763800000000-auth';

/** Every migration, in order. Listed explicitly so the app, the CLI and the tests load the same set. */
export const MIGRATIONS = [Auth1763800000000];
