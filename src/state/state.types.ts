/** Dapr's optimistic-concurrency modes; `last-write` is the default. */
export type Concurrency = 'first-write' | 'last-write';

/** One validated write, as a save item or a transaction operation asks for it. */
export type StateWrite =
  | {
      kind: 'upsert';
      key: string;
      /** Any JSON value; stored as jsonb. */
      value: unknown;
      /** null: no etag given (empty string counts as none, as in Dapr). */
      etag: string | null;
      concurrency: Concurrency;
      /** Seconds until expiry; null: the value never expires (also for ttlInSeconds -1 and 0). */
      ttlSeconds: number | null;
    }
  | { kind: 'delete'; key: string; etag: string | null; concurrency: Concurrency };

/** A live (unexpired) stored value. */
export interface StateEntry {
  key: string;
  value: unknown;
  etag: string;
  expiresAt: Date | null;
}

/** The outcome of applying writes: all applied, or none and the first that failed. */
export type WriteResult = { ok: true } | { ok: false; index: number; key: string; reason: string };
