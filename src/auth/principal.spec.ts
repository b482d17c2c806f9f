import fc from 'fast-check';
import { repositoriesCover, repositoryAllowed } from './principal';

describe('repositoryAllowed', () => {
  it('allows everything without patterns', () => {
    expect(repositoryAllowed(null, 'any/thing')).toBe(true);
  });
  it('matches exact names and * wildcards, nothing else', () => {
    const p = ['flxbl-io/*', 'solo'];
    expect(repositoryAllowed(p, 'flxbl-io/sf-core')).toBe(true);
    expect(repositoryAllowed(p, 'flxbl-io/a/b')).toBe(true);
    expect(repositoryAllowed(p, 'solo')).toBe(true);
    expect(repositoryAllowed(p, 'solo2')).toBe(false);
    expect(repositoryAllowed(p, 'flxbl-io')).toBe(false);
    expect(repositoryAllowed(p, 'other/flxbl-io/x')).toBe(false);
    expect(repositoryAllowed([], 'solo')).toBe(false);
  });
  it('treats regex characters in patterns literally', () => {
    expect(repositoryAllowed(['a.b/(x)+'], 'a.b/(x)+')).toBe(true);
    expect(repositoryAllowed(['a.b/*'], 'axb/c')).toBe(false);
  });
});

describe('repositoriesCover', () => {
  it('lets an unlimited key cover anything and a limited one never cover "all"', () => {
    expect(repositoriesCover(null, null)).toBe(true);
    expect(repositoriesCover(null, ['x/*'])).toBe(true);
    expect(repositoriesCover(['org/*'], null)).toBe(false);
    expect(repositoriesCover(['org/*'], ['*'])).toBe(false);
  });
  it('covers narrower patterns and names, not wider or other ones', () => {
    expect(repositoriesCover(['org/*'], ['org/team-*', 'org/app'])).toBe(true);
    expect(repositoriesCover(['org/*'], ['org/*'])).toBe(true);
    expect(repositoriesCover(['org/*', 'solo'], ['solo'])).toBe(true);
    expect(repositoriesCover(['org/*'], ['org/app', 'other/app'])).toBe(false);
    expect(repositoriesCover(['org/*-prod'], ['org/*'])).toBe(false);
    expect(repositoriesCover(['org/a*'], ['org/*a'])).toBe(false);
    expect(repositoriesCover(['solo'], ['solo*'])).toBe(false);
  });
  it('is sound: whatever an inner pattern matches, the outer patterns match too', () => {
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', '/', '*'), minLength: 1, maxLength: 6 });
    const filler = fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '/', '*'), maxLength: 3 }), { minLength: 6, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 3 }), pattern, filler, (outer, inner, fills) => {
        fc.pre(repositoriesCover(outer, [inner]));
        // One concrete repository the inner pattern allows: each * replaced by some text.
        let i = 0;
        const name = inner.replace(/\*/g, () => fills[i++ % fills.length]);
        expect(repositoryAllowed(outer, name)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
