import fc from 'fast-check';
import { compileStateQuery } from './state-query.compiler';
import { parseStateQuery, QueryFilter } from './state-query.parser';

function compile(body: unknown, fetch = 11) {
  return compileStateQuery('statestore', parseStateQuery(body), fetch);
}

/** Every `$n` in the text is a supplied parameter and every parameter is used. */
function expectParamsConsistent(text: string, values: unknown[]) {
  const used = new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  expect([...used].sort((a, b) => a - b)).toEqual(values.map((_, i) => i + 1));
}

describe('compileStateQuery', () => {
  it('scopes to the store, hides expired rows, pages with limit/offset and orders by key last', () => {
    const { text, values } = compile({ page: { limit: 10, token: '30' } });
    expect(text).toContain('store = $1::text');
    expect(text).toContain('(expires_at IS NULL OR expires_at > now())');
    expect(text).toMatch(/ORDER BY key ASC LIMIT \$2::int OFFSET \$3::int$/);
    expect(values).toEqual(['statestore', 11, 30]);
  });

  it('compiles EQ to jsonb equality at the path, array indexes included', () => {
    const { text, values } = compile({ filter: { EQ: { 'person.org': 'Dev Ops' } } });
    expect(text).toContain('((value #> $2::text[]) = $3::jsonb)');
    expect(values.slice(1, 3)).toEqual([['person', 'org'], '"Dev Ops"']);
    expect(compile({ filter: { EQ: { 'items.0.sku': 'x' } } }).values.slice(1, 3)).toEqual([['items', '0', 'sku'], '"x"']);
  });

  it('compares numerically for a number and as text for a string', () => {
    const n = compile({ filter: { GT: { age: 30 } } });
    expect(n.text).toContain(`(CASE WHEN jsonb_typeof(value #> $2::text[]) = 'number' THEN (value #> $2::text[])::numeric END) > $3::numeric`);
    expect(n.values[2]).toBe(30);
    const s = compile({ filter: { LTE: { name: 'm' } } });
    expect(s.text).toContain(`(CASE WHEN jsonb_typeof(value #> $2::text[]) = 'string' THEN value #>> $2::text[] END) <= $3::text`);
  });

  it('compiles NEQ, IN, AND, OR and sort', () => {
    const { text, values } = compile({
      filter: { AND: [{ NEQ: { a: true } }, { OR: [{ IN: { b: [1, 'x'] } }, { LT: { c: 5 } }] }] },
      sort: [{ key: 'c', order: 'DESC' }],
    });
    expect(text).toContain('((value #> $2::text[]) IS DISTINCT FROM $3::jsonb) AND (((value #> $4::text[]) = ANY (ARRAY(SELECT jsonb_array_elements($5::jsonb))))');
    expect(text).toContain(' OR ');
    expect(text).toContain('ORDER BY value #> $8::text[] DESC NULLS LAST, key ASC');
    expect(values[4]).toBe('[1,"x"]');
    expectParamsConsistent(text, values);
  });

  it('makes an empty IN match nothing', () => {
    expect(compile({ filter: { IN: { a: [] } } }).text).toContain('AND FALSE');
  });

  // Property: whatever the filter, values and paths only ever travel as parameters.
  const segment = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
  const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('.'));
  const marker = fc.string({ minLength: 1, maxLength: 12 }).map((s) => `@@${s}@@`);
  const scalar = fc.oneof(marker, fc.integer(), fc.boolean(), fc.constant(null));
  const leaf = fc.oneof(
    fc.record({ op: fc.constantFrom('EQ', 'NEQ'), path, value: scalar }),
    fc.record({ op: fc.constantFrom('GT', 'GTE', 'LT', 'LTE'), path, value: fc.oneof(marker, fc.integer()) }),
    fc.record({ op: fc.constant('IN'), path, value: fc.array(scalar, { maxLength: 4 }) }),
  );
  const toBody = (l: { op: string; path: string; value: unknown }) => ({ [l.op]: { [l.path]: l.value } });
  const filter = fc.letrec<{ f: unknown }>((tie) => ({
    f: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf.map(toBody),
      fc.record({ op: fc.constantFrom('AND', 'OR'), items: fc.array(tie('f'), { minLength: 2, maxLength: 3 }) }).map((x) => ({ [x.op]: x.items })),
    ),
  })).f;

  it('never splices a value or path into the SQL text', () => {
    fc.assert(
      fc.property(filter, (f) => {
        const { text, values } = compile({ filter: f });
        expect(text).not.toContain('@@');
        expectParamsConsistent(text, values);
        const parsed = parseStateQuery({ filter: f }).filter as QueryFilter;
        for (const seg of collectSegments(parsed)) expect(text).not.toMatch(new RegExp(`\\b${seg}\\b`.replace(/\$/g, '\\$')));
      }),
      { numRuns: 300 },
    );
  });
});

const SQL_WORDS = new Set(['value', 'key', 'store', 'expires_at', 'now', 'text', 'jsonb', 'int', 'numeric', 'number', 'string', 'AND', 'OR', 'NOT', 'NULL', 'IS', 'CASE', 'WHEN', 'THEN', 'END', 'SELECT', 'FROM', 'WHERE', 'ORDER', 'BY', 'ASC', 'DESC', 'LIMIT', 'OFFSET', 'ANY', 'ARRAY', 'FALSE', 'DISTINCT', 'NULLS', 'LAST', 'etag', 'state_entries', 'jsonb_typeof', 'jsonb_array_elements']);

function collectSegments(f: QueryFilter): string[] {
  if ('filters' in f) return f.filters.flatMap(collectSegments);
  return f.path.filter((s: string) => !SQL_WORDS.has(s) && !SQL_WORDS.has(s.toUpperCase()) && s.length > 2);
}
