import { applyDecorators } from '@nestjs/common';
import { IsString, Matches, MaxLength } from 'class-validator';

/** Never printable, in a name or in text: DEL, the C1 controls (8-bit terminal escapes), bidirectional overrides. */
const UNPRINTABLE = '\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';

/** Longest repository, resource or lock name. */
export const MAX_NAME_LENGTH = 300;

/**
 * A name that becomes part of a lock's identity: printable (no C0 or C1 control character, no
 * bidirectional override), not blank, at most 300 characters, and well-formed Unicode (a lone
 * UTF-16 surrogate would be stored as U+FFFD, a different name from the one sent).
 */
export function IsLockName(field: string): PropertyDecorator {
  return applyDecorators(
    IsString(),
    MaxLength(MAX_NAME_LENGTH),
    Matches(new RegExp(`^[^\\u0000-\\u001f${UNPRINTABLE}]*$`), { message: `${field} must not contain control characters` }),
    Matches(/\S/, { message: `${field} must not be blank` }),
    IsWellFormedText(field),
  );
}

/** No lone UTF-16 surrogate: it would be stored as U+FFFD, not as sent. */
export function IsWellFormedText(field: string): PropertyDecorator {
  return Matches(/^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/, { message: `${field} must be well-formed Unicode (no lone surrogates)` });
}

/**
 * Free text shown to others (dashboards, terminals): it may span lines and hold tabs, but no
 * other control character, no C1 control (U+0080-U+009F, the 8-bit terminal escapes) and no
 * bidirectional override that would make it read differently from what it is.
 */
export function IsDisplayText(field: string): PropertyDecorator {
  return applyDecorators(
    Matches(new RegExp(`^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f${UNPRINTABLE}]*$`), {
      message: `${field} must not contain control characters other than tab and line breaks`,
    }),
    IsWellFormedText(field),
  );
}
