import { DaprError } from '../common/dapr-error';
import { findIn } from '../common/json-body';
import { LONE_SURROGATE } from '../common/lock-name';
import { STATE_LIMITS } from './state.constants';
import { Concurrency, StateWrite } from './state.types';

/*
 * Hand-written checks for Dapr state bodies: they arrive as `unknown` and every failure must be
 * Dapr-shaped (400 ERR_MALFORMED_REQUEST), which class-validator DTOs cannot give us.
 */

export function malformed(detail: string): DaprError {
  return new DaprError(400, 'ERR_MALFORMED_REQUEST', `failed deserializing HTTP body: ${detail}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A key named in the URL path: its problems are not the body's. */
export const PATH_KEY = 'the key in the URL path';

/**
 * Dapr reserves `||` as its key separator; it also refuses empty keys. PostgreSQL text cannot
 * hold NUL, and a lone UTF-16 surrogate would be stored as U+FFFD (another key): both refused.
 */
export function validateKey(key: unknown, field = 'key'): string {
  const invalid = (detail: string) =>
    field === PATH_KEY ? new DaprError(400, 'ERR_MALFORMED_REQUEST', `${field} ${detail}`) : malformed(`${field} ${detail}`);
  if (typeof key !== 'string') throw invalid('must be a string');
  if (key.length === 0) throw invalid('is required');
  if (key.length > STATE_LIMITS.keyLength) throw invalid(`must be at most ${STATE_LIMITS.keyLength} characters`);
  if (key.includes('\u0000')) throw invalid('must not contain NUL characters');
  if (LONE_SURROGATE.test(key)) throw invalid('must be well-formed Unicode (no lone surrogates)');
  if (key.includes('||')) throw new DaprError(400, 'ERR_MALFORMED_REQUEST', `input key/keyPrefix '${key}' can't contain '||'`);
  return key;
}

/** A string PostgreSQL's jsonb refuses (a NUL, a lone UTF-16 surrogate), as a value or as an object key. */
const unstorable = (v: unknown) => typeof v === 'string' && (v.includes('\u0000') || LONE_SURROGATE.test(v));

/** `metadata.X=…` query parameters are request metadata, as in Dapr. */
export function metadataFromQuery(query: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(query ?? {})) {
    if (!name.startsWith('metadata.') || name.length === 'metadata.'.length) continue;
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (typeof value === 'string') out[name.slice('metadata.'.length)] = value;
  }
  return out;
}

/** First string value of a query parameter (repeated parameters arrive as arrays). */
export function queryParam(query: Record<string, unknown> | undefined, name: string): string | undefined {
  const raw = query?.[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return typeof value === 'string' ? value : undefined;
}

export function parseConcurrency(value: unknown, field = 'concurrency'): Concurrency {
  if (value === undefined || value === null || value === '') return 'last-write';
  if (value === 'first-write' || value === 'last-write') return value;
  throw malformed(`${field} must be 'first-write' or 'last-write'`);
}

/** Accepted and ignored: PostgreSQL is always strongly consistent. */
export function checkConsistency(value: unknown, field = 'consistency'): void {
  if (value === undefined || value === null || value === '') return;
  if (value !== 'eventual' && value !== 'strong') throw malformed(`${field} must be 'eventual' or 'strong'`);
}

/** Etags are strings (Go *string in Dapr); null or "" mean none. */
export function parseEtag(value: unknown, field = 'etag'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw malformed(`${field} must be a string`);
  return value === '' ? null : value;
}

/** A metadata map: string values only (map[string]string in Dapr). */
export function parseMetadata(value: unknown, field = 'metadata'): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw malformed(`${field} must be an object of strings`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw malformed(`${field}.${k} must be a string`);
  }
  return value as Record<string, string>;
}

/**
 * `ttlInSeconds`: a positive integer sets an expiry; -1 (and 0, as Dapr's PostgreSQL store does)
 * means none; absent means none too, so an upsert without it clears an earlier TTL.
 */
export function parseTtl(metadata: Record<string, string>, field = 'metadata.ttlInSeconds'): number | null {
  const raw = metadata.ttlInSeconds;
  if (raw === undefined || raw === '') return null;
  if (!/^-?\d+$/.test(raw.trim())) throw malformed(`${field} must be an integer`);
  const ttl = Number(raw.trim());
  if (ttl < -1) throw malformed(`${field} must be -1 or greater`);
  if (ttl > STATE_LIMITS.maxTtlSeconds) throw malformed(`${field} must be at most ${STATE_LIMITS.maxTtlSeconds}`);
  return ttl > 0 ? ttl : null;
}

/**
 * The JS SDK types a transaction request's etag as `{value: string}` (the gRPC shape) and sends it
 * so over HTTP; we accept that form there, so SDK users following its types are not refused.
 */
function parseOperationEtag(value: unknown, field: string): string | null {
  if (isPlainObject(value) && Object.keys(value).length === 1 && 'value' in value) return parseEtag(value.value, `${field}.value`);
  return parseEtag(value, field);
}

type EtagParser = (value: unknown, field: string) => string | null;

/** A state item of a save body or an upsert operation. */
function parseUpsert(item: unknown, where: string, mergeMetadata: (own: Record<string, string>) => Record<string, string>, readEtag: EtagParser): StateWrite {
  if (!isPlainObject(item)) throw malformed(`${where} must be an object`);
  const key = validateKey(item.key, `${where}.key`);
  if (!('value' in item) || item.value === undefined) throw malformed(`${where}.value is required`);
  // Named here: PostgreSQL's own message would name no field.
  const refused = findIn(item.value, unstorable, `${where}.value`);
  if (refused !== null) throw malformed(`${refused} must not contain NUL characters or lone UTF-16 surrogates`);
  const etag = readEtag(item.etag, `${where}.etag`);
  const metadata = mergeMetadata(parseMetadata(item.metadata, `${where}.metadata`));
  const options = parseOptions(item.options, `${where}.options`);
  const ttlSeconds = parseTtl(metadata, `${where}.metadata.ttlInSeconds`);
  return { kind: 'upsert', key, value: item.value, etag, concurrency: options.concurrency, ttlSeconds };
}

function parseOptions(value: unknown, where: string): { concurrency: Concurrency } {
  if (value === undefined || value === null) return { concurrency: 'last-write' };
  if (!isPlainObject(value)) throw malformed(`${where} must be an object`);
  checkConsistency(value.consistency, `${where}.consistency`);
  return { concurrency: parseConcurrency(value.concurrency, `${where}.concurrency`) };
}

/** POST /v1.0/state/{store}: a JSON array of items. Query-string metadata overrides item metadata, as in Dapr. */
export function parseSaveBody(body: unknown, queryMetadata: Record<string, string>): StateWrite[] {
  if (!Array.isArray(body)) throw malformed('the body must be a JSON array of state items');
  if (body.length > STATE_LIMITS.saveItems) throw malformed(`at most ${STATE_LIMITS.saveItems} items per request`);
  parseTtl(queryMetadata, 'the query parameter metadata.ttlInSeconds'); // it applies to every item: named as itself
  return body.map((item, i) => parseUpsert(item, `[${i}]`, (own) => ({ ...own, ...queryMetadata }), parseEtag));
}

/** POST /v1.0/state/{store}/bulk: `{keys, parallelism}`; parallelism is accepted and unused (one query fetches all). */
export function parseBulkGetBody(body: unknown): string[] {
  if (!isPlainObject(body)) throw malformed('the body must be an object with a keys array');
  const { keys, parallelism } = body;
  if (parallelism !== undefined && parallelism !== null && !(typeof parallelism === 'number' && Number.isInteger(parallelism))) {
    throw malformed('parallelism must be an integer');
  }
  if (keys === undefined || keys === null) return [];
  if (!Array.isArray(keys)) throw malformed('keys must be an array of strings');
  if (keys.length > STATE_LIMITS.bulkKeys) throw malformed(`at most ${STATE_LIMITS.bulkKeys} keys per request`);
  return keys.map((k, i) => validateKey(k, `keys[${i}]`));
}

/**
 * POST /v1.0/state/{store}/transaction. Every operation is checked before anything runs, so a bad
 * one is a 400 and nothing is applied. Request metadata (body and query) is a default for each operation.
 */
export function parseTransactionBody(body: unknown, queryMetadata: Record<string, string>): StateWrite[] {
  if (!isPlainObject(body)) throw malformed('the body must be an object with an operations array');
  parseTtl(queryMetadata, 'the query parameter metadata.ttlInSeconds');
  const requestMetadata = { ...parseMetadata(body.metadata), ...queryMetadata };
  parseTtl(requestMetadata, 'metadata.ttlInSeconds');
  const operations = body.operations;
  if (operations === undefined || operations === null) return [];
  if (!Array.isArray(operations)) throw malformed('operations must be an array');
  if (operations.length > STATE_LIMITS.transactionOperations) {
    throw malformed(`at most ${STATE_LIMITS.transactionOperations} operations per transaction`);
  }
  return operations.map((op, i): StateWrite => {
    const where = `operations[${i}]`;
    if (!isPlainObject(op)) throw malformed(`${where} must be an object`);
    if (op.operation === 'upsert') {
      return parseUpsert(op.request, `${where}.request`, (own) => ({ ...requestMetadata, ...own }), parseOperationEtag);
    }
    if (op.operation === 'delete') {
      const request = op.request;
      if (!isPlainObject(request)) throw malformed(`${where}.request must be an object`);
      const key = validateKey(request.key, `${where}.request.key`);
      parseMetadata(request.metadata, `${where}.request.metadata`);
      const options = parseOptions(request.options, `${where}.request.options`);
      return { kind: 'delete', key, etag: parseOperationEtag(request.etag, `${where}.request.etag`), concurrency: options.concurrency };
    }
    const name = typeof op.operation === 'string' ? op.operation : JSON.stringify(op.operation ?? '');
    throw new DaprError(400, 'ERR_NOT_SUPPORTED_STATE_OPERATION', `operation type ${name} not supported`);
  });
}

/** `If-Match` carries the etag of a delete; tolerate the quoted form HTTP clients often send. */
export function etagFromIfMatch(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return null;
  const trimmed = value.trim();
  const unquoted = /^"(.*)"$/.exec(trimmed)?.[1] ?? trimmed;
  return unquoted === '' ? null : unquoted;
}

/** Dapr formats `ttlExpireTime` as RFC 3339 in UTC, whole seconds. */
export function formatExpireTime(expiresAt: Date): string {
  return expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
