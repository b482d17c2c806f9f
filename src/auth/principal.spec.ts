import { repositoryAllowed } from './principal';

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
