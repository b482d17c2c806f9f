import { Injectable } from '@nestjs/common';
import { DaprError } from '../common/dapr-error';
import { isUnavailableError } from '../common/unavailable';
import { AppConfig } from '../config/app-config';
import { encodePageToken, parseStateQuery } from './state-query.parser';
import {
  checkConsistency,
  formatExpireTime,
  malformed,
  metadataFromQuery,
  parseBulkGetBody,
  parseConcurrency,
  parseSaveBody,
  parseTransactionBody,
  queryParam,
  PATH_KEY,
  validateKey,
} from './state-request.validator';
import { StateStore } from './state-store';
import { StateEntry, StateWrite, WriteResult } from './state.types';

type Query = Record<string, unknown> | undefined;

export interface GetStateResult {
  /** The stored value as JSON text. */
  json: string;
  etag: string;
  ttlExpireTime?: string;
}

export interface BulkStateItem {
  key: string;
  data?: unknown;
  etag?: string;
  metadata?: Record<string, string>;
  error?: string;
}

export interface QueryStateResult {
  results: { key: string; data: unknown; etag: string; metadata?: Record<string, string> }[];
  token?: string;
}

/** The Dapr state API's rules (validation order, concurrency, error codes) over a StateStore. */
@Injectable()
export class StateService {
  constructor(
    private readonly repo: StateStore,
    private readonly config: AppConfig,
  ) {}

  /** Dapr checks the store before anything else on every state route. */
  private assertStore(store: string): void {
    if (!this.config.DAPR_STATE_STORES.includes(store)) {
      throw new DaprError(400, 'ERR_STATE_STORE_NOT_FOUND', `state store ${store} is not found`);
    }
  }

  async save(store: string, body: unknown, query: Query): Promise<void> {
    this.assertStore(store);
    const writes = parseSaveBody(body, metadataFromQuery(query));
    const invalid = writes.find((w) => !etagWellFormed(w.etag));
    if (invalid) {
      throw new DaprError(400, 'ERR_STATE_SAVE', `failed saving state in state store ${store}: invalid etag value: ${JSON.stringify(invalid.etag)} is not an etag of this store`);
    }
    const result = await this.write(store, writes);
    if (!result.ok) {
      throw new DaprError(
        409,
        'ERR_STATE_SAVE',
        `failed saving state in state store ${store}: possible etag mismatch. error from state store: ${result.reason}`,
      );
    }
  }

  async get(store: string, key: string, query: Query): Promise<GetStateResult | null> {
    this.assertStore(store);
    validateKey(key, PATH_KEY);
    checkConsistency(queryParam(query, 'consistency'));
    const found = await this.repo.get(store, key);
    if (!found) return null;
    return { json: found.json, etag: found.etag, ...(found.expiresAt && { ttlExpireTime: formatExpireTime(found.expiresAt) }) };
  }

  async delete(store: string, key: string, query: Query, etag: string | null): Promise<void> {
    this.assertStore(store);
    validateKey(key, PATH_KEY);
    const concurrency = parseConcurrency(queryParam(query, 'concurrency'));
    checkConsistency(queryParam(query, 'consistency'));
    if (!etagWellFormed(etag)) {
      throw new DaprError(400, 'ERR_STATE_DELETE', `failed deleting state with key ${key}: invalid etag value: ${JSON.stringify(etag)} is not an etag of this store`);
    }
    const result = await this.write(store, [{ kind: 'delete', key, etag, concurrency }]);
    if (!result.ok) {
      throw new DaprError(
        409,
        'ERR_STATE_DELETE',
        `failed deleting state with key ${key}: possible etag mismatch. error from state store: ${result.reason}`,
      );
    }
  }

  /** One item per requested key, in request order; a missing key is `{key}` alone. */
  async bulkGet(store: string, body: unknown): Promise<BulkStateItem[]> {
    this.assertStore(store);
    const keys = parseBulkGetBody(body);
    const found = new Map((await this.repo.getMany(store, keys)).map((e) => [e.key, e]));
    return keys.map((key) => {
      const entry = found.get(key);
      return entry ? { key, data: entry.value, etag: entry.etag, ...metadataOf(entry) } : { key };
    });
  }

  async transaction(store: string, body: unknown, query: Query): Promise<void> {
    this.assertStore(store);
    const writes = parseTransactionBody(body, metadataFromQuery(query));
    let failure: string | null = null;
    try {
      const result = await this.write(store, writes);
      if (!result.ok) failure = `operation ${result.index}: possible etag mismatch. error from state store: ${result.reason}`;
    } catch (err) {
      // Bad input stays a 400 and a dead database a 503 (retry); anything else fails the transaction as Dapr does.
      if (err instanceof DaprError || isUnavailableError(err)) throw err;
      failure = (err as Error).message;
    }
    if (failure !== null) {
      throw new DaprError(500, 'ERR_STATE_TRANSACTION', `error while executing state transaction: ${failure}`);
    }
  }

  /** Values PostgreSQL refuses (a \u0000 inside a jsonb string) are the client's problem: 400, not 500. */
  private async write(store: string, writes: StateWrite[]): Promise<WriteResult> {
    try {
      return await this.repo.write(store, writes);
    } catch (err) {
      if (/^22/.test((err as { code?: string }).code ?? '')) throw malformed(`a value cannot be stored: ${(err as Error).message}`);
      throw err;
    }
  }

  /** null: no results (answered 204 like Dapr). */
  async query(store: string, body: unknown): Promise<QueryStateResult | null> {
    this.assertStore(store);
    const query = parseStateQuery(body);
    // One row more than the page tells whether a next page exists without counting.
    const rows = await this.repo.query(store, query, query.limit + 1).catch((err) => {
      if (/^22/.test((err as { code?: string }).code ?? '')) {
        throw new DaprError(400, 'ERR_MALFORMED_REQUEST', `failed to parse query: a filter value cannot be used: ${(err as Error).message}`);
      }
      throw err;
    });
    if (rows.length === 0) return null;
    const page = rows.slice(0, query.limit);
    return {
      results: page.map((e) => ({ key: e.key, data: e.value, etag: e.etag, ...metadataOf(e) })),
      ...(rows.length > query.limit && { token: encodePageToken(query.offset + query.limit) }),
    };
  }

  /** Housekeeping only: reads already hide expired values. */
  purgeExpired(batchSize: number): Promise<number> {
    return this.repo.purgeExpired(batchSize);
  }
}

function metadataOf(entry: StateEntry): { metadata?: Record<string, string> } {
  return entry.expiresAt ? { metadata: { ttlExpireTime: formatExpireTime(entry.expiresAt) } } : {};
}

/**
 * This store's etags are positive integers (a sequence). As in Dapr's own stores, an etag that
 * could never match is a bad request (400), not a concurrency conflict (409).
 */
function etagWellFormed(etag: string | null): boolean {
  return etag === null || /^[1-9][0-9]{0,18}$/.test(etag);
}
