/**
 * The one rule for a name that becomes part of a lock's identity (a repository, a resource, a
 * Dapr resourceId, a synchronize lockName), on every API and in every path: a lock made through
 * one API can always be named through the others.
 *
 * A name is at most MAX_NAME_LENGTH characters, printable (no C0 or C1 control character, no DEL,
 * no bidirectional override that would make it read differently from what it is), not blank, and
 * well-formed Unicode (a lone UTF-16 surrogate would be stored as U+FFFD, a different name).
 */
export const MAX_NAME_LENGTH = 300;

/** Never printable, in a name or in text: DEL, the C1 controls (8-bit terminal escapes), bidirectional overrides. */
export const UNPRINTABLE = '\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';
const CONTROL = new RegExp(`[\\u0000-\\u001f${UNPRINTABLE}]`);
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export type NameProblem = 'too_long' | 'control' | 'blank' | 'malformed';

/** What is wrong with a name, or null if it can name a lock. */
export function nameProblem(name: string): NameProblem | null {
  if (name.length > MAX_NAME_LENGTH) return 'too_long';
  if (CONTROL.test(name)) return 'control';
  if (!/\S/.test(name)) return 'blank';
  if (LONE_SURROGATE.test(name)) return 'malformed';
  return null;
}

/** The message of a 400 for `field`, in the words of the sfp and synchronize APIs. */
export function nameProblemMessage(field: string, problem: NameProblem): string {
  switch (problem) {
    case 'too_long':
      return `${field} must be shorter than or equal to ${MAX_NAME_LENGTH} characters`;
    case 'control':
      return `${field} must not contain control characters`;
    case 'blank':
      return `${field} must not be blank`;
    case 'malformed':
      return `${field} must be well-formed Unicode (no lone surrogates)`;
  }
}
