import { daprErrorOf } from '../../test/support/dapr-error-of';
import { decodePageToken, encodePageToken, parseStateQuery } from './state-query.parser';

const errorOf = daprErrorOf;

describe('parseStateQuery', () => {
  it('parses the example of the Dapr docs', () => {
    const q = parseStateQuery({
      filter: {
        OR: [
          { EQ: { 'person.org': 'Dev Ops' } },
          { AND: [{ EQ: { 'person.org': 'Finance' } }, { IN: { state: ['CA', 'WA'] } }] },
        ],
      },
      sort: [{ key: 'state', order: 'DESC' }, { key: 'person.id' }],
      page: { limit: 3 },
    });
    expect(q).toEqual({
      filter: {
        op: 'OR',
        filters: [
          { op: 'EQ', path: ['person', 'org'], value: 'Dev Ops' },
          {
            op: 'AND',
            filters: [
              { op: 'EQ', path: ['person', 'org'], value: 'Finance' },
              { op: 'IN', path: ['state'], values: ['CA', 'WA'] },
            ],
          },
        ],
      },
      sort: [
        { path: ['state'], order: 'DESC' },
        { path: ['person', 'id'], order: 'ASC' },
      ],
      limit: 3,
      offset: 0,
    });
  });

  it('accepts an empty body or empty filter as "everything", paged at the default size', () => {
    expect(parseStateQuery({})).toEqual({ filter: null, sort: [], limit: 1000, offset: 0 });
    expect(parseStateQuery({ filter: {}, page: { limit: 0 } }).filter).toBeNull();
  });

  it('reads every comparison operator', () => {
    for (const op of ['EQ', 'NEQ', 'GT', 'GTE', 'LT', 'LTE']) {
      expect(parseStateQuery({ filter: { [op]: { a: 1 } } }).filter).toEqual({ op, path: ['a'], value: 1 });
    }
  });

  it('decodes the token it encodes', () => {
    expect(decodePageToken(encodePageToken(40))).toBe(40);
    expect(parseStateQuery({ page: { limit: 10, token: '20' } }).offset).toBe(20);
  });

  it.each([
    ['a non-object body', [1]],
    ['two operators in one unit', { filter: { EQ: { a: 1 }, NEQ: { b: 2 } } }],
    ['an unknown operator', { filter: { LIKE: { a: 'x' } } }],
    ['EQ with two keys', { filter: { EQ: { a: 1, b: 2 } } }],
    ['EQ not an object', { filter: { EQ: 'a' } }],
    ['IN with a scalar', { filter: { IN: { a: 1 } } }],
    ['AND with one entry', { filter: { AND: [{ EQ: { a: 1 } }] } }],
    ['OR not an array', { filter: { OR: { EQ: { a: 1 } } } }],
    ['GT on a boolean', { filter: { GT: { a: true } } }],
    ['LT on an object', { filter: { LT: { a: { b: 1 } } } }],
    ['a path with SQL in it', { filter: { EQ: { "a'); DROP TABLE state_entries; --": 1 } } }],
    ['an empty path segment', { filter: { EQ: { 'a..b': 1 } } }],
    ['a bad sort order', { sort: [{ key: 'a', order: 'UP' }] }],
    ['a sort without key', { sort: [{ order: 'ASC' }] }],
    ['a negative limit', { page: { limit: -1 } }],
    ['a fractional limit', { page: { limit: 1.5 } }],
    ['a huge limit', { page: { limit: 100_000 } }],
    ['a forged token', { page: { limit: 1, token: 'abc' } }],
    ['a numeric token', { page: { limit: 1, token: 5 } }],
  ])('refuses %s with 400 ERR_MALFORMED_REQUEST', (_label, body) => {
    const err = errorOf(() => parseStateQuery(body));
    expect(err.getStatus()).toBe(400);
    expect(err.errorCode).toBe('ERR_MALFORMED_REQUEST');
  });

  it('bounds nesting depth and clause count', () => {
    let deep: unknown = { EQ: { a: 1 } };
    for (let i = 0; i < 20; i++) deep = { AND: [deep, { EQ: { b: 1 } }] };
    expect(errorOf(() => parseStateQuery({ filter: deep })).message).toMatch(/nested deeper/);
    const wide = { OR: Array.from({ length: 300 }, (_, i) => ({ EQ: { a: i } })) };
    expect(errorOf(() => parseStateQuery({ filter: wide })).message).toMatch(/more than 200 clauses/);
  });
});
