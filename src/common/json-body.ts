/**
 * Checks on a parsed JSON body that JSON.parse does not make. Each runs only when a cheap look at
 * the text says it could find something, so a plain body costs a regular-expression test or two.
 */

/** Where in a body a value sits, as messages name it: `[0].value.big`, `resources[2]`. */
function childPath(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/**
 * The first place in `value` where `test` is true of a value or of an object key, as a path from
 * `path` (`a[1].b`), or null. Recursion is bounded: the parser refuses bodies nested deeper than 128.
 */
export function findIn(value: unknown, test: (v: unknown, isKey: boolean) => boolean, path = ''): string | null {
  if (test(value, false)) return path || '(the body)';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findIn(value[i], test, childPath(path, i));
      if (found !== null) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      if (test(key, true)) return childPath(path, key);
      const found = findIn((value as Record<string, unknown>)[key], test, childPath(path, key));
      if (found !== null) return found;
    }
  }
  return null;
}

/**
 * A number literal too large for a double (1e400, or 309 digits): JSON.parse reads it as
 * Infinity, which would be stored, compared or serialized as null. Refused, as Go's decoder does.
 */
const MAYBE_HUGE_NUMBER = /\d[eE]\+?\d{3}|\d{309}/;

export function outOfRangeNumber(text: string, body: unknown): string | null {
  if (!MAYBE_HUGE_NUMBER.test(text)) return null;
  return findIn(body, (v) => typeof v === 'number' && !Number.isFinite(v));
}

/**
 * An object key `__proto__` (however it is escaped): JSON.parse makes it an own property, which
 * is harmless until a library assigns it onto another object (class-transformer does, replacing
 * that object's prototype). Looked for only when the text could spell it.
 */
export function protoKey(text: string, body: unknown): string | null {
  if (!text.includes('proto') && !text.includes('\\u')) return null;
  return findIn(body, (v, isKey) => isKey && v === '__proto__');
}
