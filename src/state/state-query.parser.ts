import { DaprError } from '../common/dapr-error';
import { STATE_LIMITS } from './state.constants';

/*
 * Dapr's state query language (https://docs.dapr.io/developing-applications/building-blocks/state-management/howto-state-query-api/)
 * parsed into a small tree that a repository translates for its own database.
 */

export type ComparisonOp = 'EQ' | 'NEQ' | 'GT' | 'GTE' | 'LT' | 'LTE';
export type RangeOp = 'GT' | 'GTE' | 'LT' | 'LTE';

export type QueryFilter =
  | { op: 'EQ' | 'NEQ'; path: string[]; value: unknown }
  /** Range filters compare numbers numerically and strings as text; other types are refused. */
  | { op: RangeOp; path: string[]; value: number | string }
  | { op: 'IN'; path: string[]; values: unknown[] }
  | { op: 'AND' | 'OR'; filters: QueryFilter[] };

export interface QuerySort {
  path: string[];
  order: 'ASC' | 'DESC';
}

export interface StateQuery {
  filter: QueryFilter | null;
  sort: QuerySort[];
  limit: number;
  /** Decoded from the paging token. */
  offset: number;
}

/** One dot-path segment: a JSON field name or array index. Values travel as parameters; this only keeps paths sane. */
const SEGMENT = /^[A-Za-z0-9_$@:-]{1,200}$/;

function bad(detail: string): DaprError {
  return new DaprError(400, 'ERR_MALFORMED_REQUEST', `failed to parse query: ${detail}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `person.org` → ['person', 'org']. */
export function parsePath(key: unknown, where: string): string[] {
  if (typeof key !== 'string' || key.length === 0) throw bad(`${where} must be a non-empty dot path`);
  const segments = key.split('.');
  if (segments.length > STATE_LIMITS.pathSegments) throw bad(`${where} has more than ${STATE_LIMITS.pathSegments} segments`);
  for (const s of segments) {
    if (!SEGMENT.test(s)) throw bad(`${where} '${key}' must be dot-separated names of letters, digits, _ $ @ : -`);
  }
  return segments;
}

/** The paging token is an opaque offset; only tokens we issued are accepted. */
export function encodePageToken(offset: number): string {
  return String(offset);
}

export function decodePageToken(token: unknown): number {
  if (token === undefined || token === null || token === '') return 0;
  if (typeof token !== 'string' || !/^\d{1,9}$/.test(token)) throw bad('page.token is not a token this store issued');
  const offset = Number(token);
  if (offset > STATE_LIMITS.maxOffset) throw bad('page.token is not a token this store issued');
  return offset;
}

class FilterParser {
  private nodes = 0;

  parse(obj: unknown, depth: number, where: string): QueryFilter {
    if (++this.nodes > STATE_LIMITS.filterNodes) throw bad(`filter has more than ${STATE_LIMITS.filterNodes} clauses`);
    if (depth > STATE_LIMITS.filterDepth) throw bad(`filter is nested deeper than ${STATE_LIMITS.filterDepth}`);
    if (!isPlainObject(obj)) throw bad(`${where} must be an object`);
    const ops = Object.keys(obj);
    if (ops.length !== 1) throw bad(`${where} must have exactly one operator`);
    const op = ops[0];
    const arg = obj[op];
    switch (op) {
      case 'AND':
      case 'OR': {
        if (!Array.isArray(arg)) throw bad(`${op} filter must be an array`);
        if (arg.length < 2) throw bad(`${op} filter must contain at least two entries`);
        return { op, filters: arg.map((f, i) => this.parse(f, depth + 1, `${where}.${op}[${i}]`)) };
      }
      case 'EQ':
      case 'NEQ':
      case 'GT':
      case 'GTE':
      case 'LT':
      case 'LTE':
      case 'IN': {
        if (!isPlainObject(arg)) throw bad(`${op} filter must be an object`);
        const keys = Object.keys(arg);
        if (keys.length !== 1) throw bad(`${op} filter must contain a single key/value pair`);
        const path = parsePath(keys[0], `${op} filter key`);
        const value = arg[keys[0]];
        if (op === 'IN') {
          if (!Array.isArray(value)) throw bad('IN filter value must be an array');
          if (value.length > STATE_LIMITS.inValues) throw bad(`IN filter may list at most ${STATE_LIMITS.inValues} values`);
          return { op, path, values: value };
        }
        if (op === 'EQ' || op === 'NEQ') return { op, path, value };
        if (typeof value === 'number' || typeof value === 'string') return { op, path, value };
        throw bad(`${op} filter value must be a number or a string`);
      }
      default:
        throw bad(`unsupported filter '${op}'`);
    }
  }
}

/** Parses a query body: `{filter?, sort?, page?}`. Every problem is a 400 ERR_MALFORMED_REQUEST. */
export function parseStateQuery(body: unknown): StateQuery {
  if (!isPlainObject(body)) throw bad('the body must be a JSON object');
  const q = body;

  let filter: QueryFilter | null = null;
  if (q.filter !== undefined && q.filter !== null) {
    if (!isPlainObject(q.filter)) throw bad('filter must be an object');
    if (Object.keys(q.filter).length > 0) filter = new FilterParser().parse(q.filter, 1, 'filter');
  }

  const sort: QuerySort[] = [];
  if (q.sort !== undefined && q.sort !== null) {
    if (!Array.isArray(q.sort)) throw bad('sort must be an array');
    if (q.sort.length > STATE_LIMITS.sortKeys) throw bad(`sort may name at most ${STATE_LIMITS.sortKeys} keys`);
    q.sort.forEach((s, i) => {
      if (!isPlainObject(s)) throw bad(`sort[${i}] must be an object`);
      const order = s.order === undefined || s.order === null || s.order === '' ? 'ASC' : s.order;
      if (order !== 'ASC' && order !== 'DESC') throw bad(`sort[${i}].order must be ASC or DESC`);
      sort.push({ path: parsePath(s.key, `sort[${i}].key`), order });
    });
  }

  let limit: number = STATE_LIMITS.defaultPageLimit;
  let offset = 0;
  if (q.page !== undefined && q.page !== null) {
    if (!isPlainObject(q.page)) throw bad('page must be an object');
    const l = q.page.limit;
    if (l !== undefined && l !== null) {
      if (typeof l !== 'number' || !Number.isInteger(l) || l < 0) throw bad('page.limit must be a non-negative integer');
      if (l > STATE_LIMITS.maxPageLimit) throw bad(`page.limit must be at most ${STATE_LIMITS.maxPageLimit}`);
      // 0 means "no limit" in Dapr; we still page, at the default size.
      if (l > 0) limit = l;
    }
    offset = decodePageToken(q.page.token);
  }
  return { filter, sort, limit, offset };
}
