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
