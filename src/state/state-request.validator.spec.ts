import { daprErrorOf } from '../../test/support/dapr-error-of';
import {
  etagFromIfMatch,
  formatExpireTime,
  metadataFromQuery,
  parseBulkGetBody,
  parseSaveBody,
  parseTransactionBody,
  parseTtl,
  validateKey,
} from './state-request.validator';

const errorOf = daprErrorOf;

describe('state request validation', () => {
  it('reads save items with defaults (last-write, no etag, no TTL)', () => {
    expect(parseSaveBody([{ key: 'k', value: 'hello' }], {})).toEqual([
      { kind: 'upsert', key: 'k', value: 'hello', etag: null, concurrency: 'last-write', ttlSeconds: null },
    ]);
  });

  it('keeps every JSON value type, the empty string and null included', () => {
    const values = [0, 1.5, -3, true, false, '', 'x', { a: [1, { b: null }] }, [], null];
    const writes = parseSaveBody(values.map((value, i) => ({ key: `k${i}`, value })), {});
    expect(writes.map((w) => (w.kind === 'upsert' ? w.value : undefined))).toEqual(values);
  });

  it('reads etag, options and TTL; query-string metadata wins over item metadata', () => {
    const [w] = parseSaveBody(
      [{ key: 'k', value: 1, etag: '7', metadata: { ttlInSeconds: '5' }, options: { concurrency: 'first-write', consistency: 'strong' } }],
      { ttlInSeconds: '9' },
    );
    expect(w).toEqual({ kind: 'upsert', key: 'k', value: 1, etag: '7', concurrency: 'first-write', ttlSeconds: 9 });
  });

  it('treats an empty or null etag as none (Dapr: nil or empty *string)', () => {
    expect(parseSaveBody([{ key: 'k', value: 1, etag: '' }], {})[0]).toMatchObject({ etag: null });
    expect(parseSaveBody([{ key: 'k', value: 1, etag: null }], {})[0]).toMatchObject({ etag: null });
  });

  it.each([
    ['a non-array body', { key: 'k', value: 1 }],
    ['a missing key', [{ value: 1 }]],
    ['an empty key', [{ key: '', value: 1 }]],
    ['a numeric key', [{ key: 5, value: 1 }]],
    ['a missing value', [{ key: 'k' }]],
    ['a numeric etag', [{ key: 'k', value: 1, etag: 5 }]],
    ['a non-string metadata value', [{ key: 'k', value: 1, metadata: { ttlInSeconds: 5 } }]],
    ['an unknown concurrency', [{ key: 'k', value: 1, options: { concurrency: 'whatever' } }]],
    ['an unknown consistency', [{ key: 'k', value: 1, options: { consistency: 'weak' } }]],
    ['a non-integer TTL', [{ key: 'k', value: 1, metadata: { ttlInSeconds: 'soon' } }]],
    ['a TTL below -1', [{ key: 'k', value: 1, metadata: { ttlInSeconds: '-2' } }]],
    ['a key over 1000 characters', [{ key: 'x'.repeat(1001), value: 1 }]],
    ['a NUL in a key', [{ key: 'a\u0000b', value: 1 }]],
    ['a non-object item', ['k']],
  ])('refuses a save with %s (400 ERR_MALFORMED_REQUEST)', (_label, body) => {
    const err = errorOf(() => parseSaveBody(body, {}));
    expect(err.getStatus()).toBe(400);
    expect(err.errorCode).toBe('ERR_MALFORMED_REQUEST');
  });

  it("refuses '||' in a key with Dapr's message", () => {
    const err = errorOf(() => validateKey('a||b'));
    expect(err.errorCode).toBe('ERR_MALFORMED_REQUEST');
    expect(err.message).toBe("input key/keyPrefix 'a||b' can't contain '||'");
  });

  it('maps ttlInSeconds: positive sets, -1 and 0 clear, absent clears', () => {
    expect(parseTtl({ ttlInSeconds: '60' })).toBe(60);
    expect(parseTtl({ ttlInSeconds: '-1' })).toBeNull();
    expect(parseTtl({ ttlInSeconds: '0' })).toBeNull();
    expect(parseTtl({})).toBeNull();
  });

  it('reads metadata.X query parameters only', () => {
    expect(metadataFromQuery({ 'metadata.ttlInSeconds': '3', consistency: 'strong', 'metadata.a': ['1', '2'] })).toEqual({ ttlInSeconds: '3', a: '2' });
  });

  it('reads bulk keys; parallelism must be an integer', () => {
    expect(parseBulkGetBody({ keys: ['a', 'b'], parallelism: 10 })).toEqual(['a', 'b']);
    expect(parseBulkGetBody({})).toEqual([]);
    expect(errorOf(() => parseBulkGetBody({ keys: ['a', 1] })).errorCode).toBe('ERR_MALFORMED_REQUEST');
    expect(errorOf(() => parseBulkGetBody({ keys: 'a' })).errorCode).toBe('ERR_MALFORMED_REQUEST');
    expect(errorOf(() => parseBulkGetBody({ keys: ['a'], parallelism: 'x' })).errorCode).toBe('ERR_MALFORMED_REQUEST');
    expect(errorOf(() => parseBulkGetBody({ keys: Array(1001).fill('k') })).message).toMatch(/at most 1000 keys/);
  });

  it('reads transactions in order; request metadata is a default the operation can override', () => {
    const writes = parseTransactionBody(
      {
        operations: [
          { operation: 'upsert', request: { key: 'a', value: 1 } },
          { operation: 'upsert', request: { key: 'b', value: 2, metadata: { ttlInSeconds: '-1' } } },
          { operation: 'delete', request: { key: 'c', etag: '4' } },
        ],
        metadata: { ttlInSeconds: '30' },
      },
      {},
    );
    expect(writes).toEqual([
      { kind: 'upsert', key: 'a', value: 1, etag: null, concurrency: 'last-write', ttlSeconds: 30 },
      { kind: 'upsert', key: 'b', value: 2, etag: null, concurrency: 'last-write', ttlSeconds: null },
      { kind: 'delete', key: 'c', etag: '4', concurrency: 'last-write' },
    ]);
    expect(parseTransactionBody({ operations: [], metadata: null }, {})).toEqual([]);
  });

  it("accepts the SDK's {value} etag form in transaction operations, but not in save bodies", () => {
    const [u, d] = parseTransactionBody(
      { operations: [{ operation: 'upsert', request: { key: 'a', value: 1, etag: { value: '3' } } }, { operation: 'delete', request: { key: 'b', etag: { value: '4' } } }] },
      {},
    );
    expect(u).toMatchObject({ etag: '3' });
    expect(d).toMatchObject({ etag: '4' });
    expect(errorOf(() => parseSaveBody([{ key: 'k', value: 1, etag: { value: '3' } }], {})).errorCode).toBe('ERR_MALFORMED_REQUEST');
  });

  it('refuses an unknown transaction operation with ERR_NOT_SUPPORTED_STATE_OPERATION', () => {
    const err = errorOf(() => parseTransactionBody({ operations: [{ operation: 'merge', request: { key: 'a', value: 1 } }] }, {}));
    expect(err.getStatus()).toBe(400);
    expect(err.errorCode).toBe('ERR_NOT_SUPPORTED_STATE_OPERATION');
    expect(err.message).toBe('operation type merge not supported');
  });

  it('refuses malformed transaction bodies with ERR_MALFORMED_REQUEST', () => {
    for (const body of [[], { operations: {} }, { operations: [{ operation: 'upsert' }] }, { operations: [{ operation: 'delete', request: { key: 'a', etag: 1 } }] }]) {
      expect(errorOf(() => parseTransactionBody(body, {})).errorCode).toBe('ERR_MALFORMED_REQUEST');
    }
  });

  it('reads If-Match with or without quotes', () => {
    expect(etagFromIfMatch('12')).toBe('12');
    expect(etagFromIfMatch('"12"')).toBe('12');
    expect(etagFromIfMatch(undefined)).toBeNull();
    expect(etagFromIfMatch('')).toBeNull();
  });

  it('formats ttlExpireTime as RFC 3339 UTC seconds, like Dapr', () => {
    expect(formatExpireTime(new Date('2030-01-02T03:04:05.678Z'))).toBe('2030-01-02T03:04:05Z');
  });
});
