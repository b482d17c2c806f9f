import { QueryFilter, StateQuery } from './state-query.parser';

/*
 * Translates a parsed Dapr state query into one parameterised PostgreSQL statement over the jsonb
 * `value` column. Nothing from the request is ever spliced into the SQL text: paths travel as
 * text[] parameters (`value #> $n`), values as jsonb / numeric / text parameters.
 */

export interface CompiledQuery {
  text: string;
  values: unknown[];
}

class Params {
  readonly values: unknown[] = [];

  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

const RANGE_SQL = { GT: '>', GTE: '>=', LT: '<', LTE: '<=' } as const;

function compileFilter(f: QueryFilter, p: Params): string {
  switch (f.op) {
    case 'AND':
    case 'OR':
      return `(${f.filters.map((x) => compileFilter(x, p)).join(` ${f.op} `)})`;
    case 'EQ': {
      return `((value #> ${p.add(f.path, 'text[]')}) = ${p.add(JSON.stringify(f.value), 'jsonb')})`;
    }
    case 'NEQ': {
      // A value without the field counts as "not equal".
      return `((value #> ${p.add(f.path, 'text[]')}) IS DISTINCT FROM ${p.add(JSON.stringify(f.value), 'jsonb')})`;
    }
    case 'IN': {
      if (f.values.length === 0) return 'FALSE';
      const target = `(value #> ${p.add(f.path, 'text[]')})`;
      return `(${target} = ANY (ARRAY(SELECT jsonb_array_elements(${p.add(JSON.stringify(f.values), 'jsonb')}))))`;
    }
    case 'GT':
    case 'GTE':
    case 'LT':
    case 'LTE': {
      const path = p.add(f.path, 'text[]');
      const sqlOp = RANGE_SQL[f.op];
      // Typed on the filter value: numbers compare numerically, strings as text; other JSON types never match.
      if (typeof f.value === 'number') {
        return `((CASE WHEN jsonb_typeof(value #> ${path}) = 'number' THEN (value #> ${path})::numeric END) ${sqlOp} ${p.add(f.value, 'numeric')})`;
      }
      return `((CASE WHEN jsonb_typeof(value #> ${path}) = 'string' THEN value #>> ${path} END) ${sqlOp} ${p.add(f.value, 'text')})`;
    }
  }
}

/**
 * SELECT of one page. `fetch` rows are read from `query.offset`; the caller asks for one more than
 * the page size to learn whether another page exists. Sorting uses jsonb ordering (numbers
 * numerically, strings by collation), missing fields last, then the key so pages never overlap.
 */
export function compileStateQuery(store: string, query: StateQuery, fetch: number): CompiledQuery {
  const p = new Params();
  const where = [`store = ${p.add(store, 'text')}`, '(expires_at IS NULL OR expires_at > now())'];
  if (query.filter) where.push(compileFilter(query.filter, p));
  const orderBy = query.sort.map((s) => `value #> ${p.add(s.path, 'text[]')} ${s.order} NULLS LAST`);
  orderBy.push('key ASC');
  const text =
    `SELECT key, value, etag::text AS etag, expires_at FROM state_entries ` +
    `WHERE ${where.join(' AND ')} ORDER BY ${orderBy.join(', ')} ` +
    `LIMIT ${p.add(fetch, 'int')} OFFSET ${p.add(query.offset, 'int')}`;
  return { text, values: p.values };
}
