/**
 * SQL form of the `org/*` repository patterns of a key (see repositoryAllowed in
 * src/auth/principal.ts): `*` becomes `%`, and LIKE's own wildcards are escaped, so
 * `repository LIKE ANY($n)` selects exactly the repositories repositoryAllowed lets through.
 */
export function patternToLike(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
}

/** null (every repository) stays null, so callers can skip the condition. */
export function patternsToLike(patterns: string[] | null): string[] | null {
  return patterns === null ? null : patterns.map(patternToLike);
}

/** The LIKE-escaped form of a literal, for prefix and substring searches. */
export function escapeLike(literal: string): string {
  return literal.replace(/[\\%_]/g, (c) => `\\${c}`);
}
