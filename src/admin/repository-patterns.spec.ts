import fc from 'fast-check';
import { repositoryAllowed } from '../auth/principal';
import { escapeLike, patternToLike } from './repository-patterns';

/** PostgreSQL LIKE with the default escape character, as an independent oracle. */
function like(value: string, pattern: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(value);
}

describe('repository patterns in SQL', () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'b', '/', '*', '%', '_', '\\', '.', '-'), maxLength: 8 });

  it('selects exactly the repositories repositoryAllowed lets through', () => {
    fc.assert(
      fc.property(text, text, (pattern, repository) => {
        expect(like(repository, patternToLike(pattern))).toBe(repositoryAllowed([pattern], repository));
      }),
      { numRuns: 2_000 },
    );
  });

  it('handles the usual org/* patterns', () => {
    expect(patternToLike('flxbl-io/*')).toBe('flxbl-io/%');
    expect(patternToLike('my_org/*')).toBe('my\\_org/%');
    expect(like('flxbl-io/sf-core', patternToLike('flxbl-io/*'))).toBe(true);
    expect(like('myXorg/a', patternToLike('my_org/*'))).toBe(false);
  });

  it('escapes literals for prefix and substring searches', () => {
    fc.assert(
      fc.property(text, text, (needle, haystack) => {
        expect(like(haystack, `%${escapeLike(needle)}%`)).toBe(haystack.includes(needle));
      }),
      { numRuns: 1_000 },
    );
  });
});
