import { Auth1763800000000 } from './1763800000000-auth';
import { Mutex1763800000100 } from './1763800000100-mutex';
import { State1763800000300 } from './1763800000300-state';
import { Admin1763800000400 } from './1763800000400-admin';
import { LeanLockPath1763800000500 } from './1763800000500-lean-lock-path';

/** Every migration, in order. Listed explicitly so the app, the CLI and the tests load the same set. */
export const MIGRATIONS = [Auth1763800000000, Mutex1763800000100, State1763800000300, Admin1763800000400, LeanLockPath1763800000500];
