import { StateQuery } from './state-query.parser';
import { StateEntry, StateWrite, WriteResult } from './state.types';

/**
 * Storage port of the Dapr state API. Every read hides expired values; the service holds the
 * Dapr rules and never sees SQL, so another database can sit behind this class.
 */
export abstract class StateStore {
  /** The live value of one key, as JSON text (served as-is by GET). */
  abstract get(store: string, key: string): Promise<{ json: string; etag: string; expiresAt: Date | null } | null>;

  /** The live values of the keys that exist, in no particular order. */
  abstract getMany(store: string, keys: string[]): Promise<StateEntry[]>;

  /**
   * Applies the writes in order, all or nothing. An etag or first-write conflict undoes
   * everything and is reported, not thrown; anything else (database down) throws.
   */
  abstract write(store: string, writes: StateWrite[]): Promise<WriteResult>;

  /** Up to `fetch` matching entries in query order, starting at `query.offset`. */
  abstract query(store: string, query: StateQuery, fetch: number): Promise<StateEntry[]>;

  /** Deletes expired rows; returns how many. */
  abstract purgeExpired(batchSize: number): Promise<number>;
}
