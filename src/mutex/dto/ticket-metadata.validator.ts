import { ValidateBy } from 'class-validator';
import { LONE_SURROGATE, UNPRINTABLE } from '../../common/lock-name';

export const METADATA_MAX_ENTRIES = 16;
export const METADATA_MAX_KEY_LENGTH = 64;
export const METADATA_MAX_VALUE_LENGTH = 512;

const CONTROL = new RegExp(`[\\u0000-\\u001f${UNPRINTABLE}]`);

/** What is wrong with a ticket's metadata, naming the entry; null when it is fine. */
export function metadataProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'metadata must be an object of string keys and values';
  const entries = Object.entries(value);
  if (entries.length > METADATA_MAX_ENTRIES) return `metadata must have at most ${METADATA_MAX_ENTRIES} entries (it has ${entries.length})`;
  for (const [key, v] of entries) {
    const printable = (s: string) => !CONTROL.test(s) && !LONE_SURROGATE.test(s);
    const shown = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
    if (key.trim() === '') return 'metadata keys must not be blank';
    if (key.length > METADATA_MAX_KEY_LENGTH) return `metadata key ${shown} must be at most ${METADATA_MAX_KEY_LENGTH} characters`;
    if (!printable(key)) return `metadata key ${shown} must be printable (no control characters)`;
    if (typeof v !== 'string') return `metadata.${key} must be a string`;
    if (v.length > METADATA_MAX_VALUE_LENGTH) return `metadata.${key} must be at most ${METADATA_MAX_VALUE_LENGTH} characters`;
    if (!printable(v)) return `metadata.${key} must be printable (no control characters)`;
  }
  return null;
}

/** A ticket's metadata: at most 16 printable string pairs, keys ≤ 64 and values ≤ 512 characters. */
export function IsTicketMetadata(): PropertyDecorator {
  return ValidateBy({
    name: 'isTicketMetadata',
    validator: {
      validate: (value: unknown) => metadataProblem(value) === null,
      defaultMessage: (args) => metadataProblem(args?.value) ?? 'metadata is invalid',
    },
  });
}
