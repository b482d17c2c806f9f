import { Role, UserKind } from './user.entity';

/** Who is calling: resolved from an API key on every authenticated request. */
export interface Principal {
  userId: string;
  name: string;
  role: Role;
  kind: UserKind | 'bootstrap';
  /** Repository patterns; null means all repositories. */
  repositories: string[] | null;
  keyId: string | null;
}

/** The identity behind OWNER_TOKEN; it has no database row. */
export const BOOTSTRAP_OWNER_ID = '00000000-0000-4000-8000-000000000000';

/** `org/*` style patterns: `*` matches any run of characters. */
export function repositoryAllowed(patterns: string[] | null, repository: string): boolean {
  if (patterns === null) return true;
  return patterns.some((pattern) => {
    if (pattern === '*' || pattern === repository) return true;
    const regex = new RegExp(
      '^' + pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$',
    );
    return regex.test(repository);
  });
}

/**
 * Whether every repository `inner` allows is one `outer` allows too: a limited key may only hand
 * out or manage keys inside its own limits. `null` is "all repositories". A pattern of `inner` is
 * tested as a literal name against `outer`: each `*` of it can then only fall inside a `*` of the
 * outer pattern, so whatever that `*` stands for, the outer pattern still matches.
 */
export function repositoriesCover(outer: string[] | null, inner: string[] | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return inner.every((pattern) => repositoryAllowed(outer, pattern));
}
