import { applyDecorators } from '@nestjs/common';
import { IsString, Matches, ValidateBy, ValidationOptions } from 'class-validator';
import { nameProblem, nameProblemMessage, UNPRINTABLE } from './lock-name';

/**
 * A body field that names a lock: a string that follows the one lock-name rule (see lock-name.ts).
 * With `each`, an array of such names.
 */
export function IsLockName(field: string, options: Pick<ValidationOptions, 'each'> = {}): PropertyDecorator {
  const first = (value: unknown) => (Array.isArray(value) ? value.find((v) => typeof v === 'string' && nameProblem(v) !== null) : value);
  return applyDecorators(
    IsString(options),
    ValidateBy(
      {
        name: 'isLockName',
        validator: {
          validate: (value: unknown) => typeof value !== 'string' || nameProblem(value) === null,
          defaultMessage: (args) => {
            const bad = String(first(args?.value));
            const named = options.each ? `${field} ${JSON.stringify(bad.length > 40 ? `${bad.slice(0, 40)}…` : bad)}` : field;
            return nameProblemMessage(named, nameProblem(bad) ?? 'blank');
          },
        },
      },
      options,
    ),
  );
}

/** Well-formed UTF-16: no lone surrogate. */
export const WELL_FORMED_TEXT = /^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;

/** Display text: no control character but tab and line breaks, nothing UNPRINTABLE. */
export const DISPLAY_TEXT = new RegExp(`^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f${UNPRINTABLE}]*$`);

/** No lone UTF-16 surrogate: it would be stored as U+FFFD, not as sent. */
export function IsWellFormedText(field: string): PropertyDecorator {
  return Matches(WELL_FORMED_TEXT, { message: `${field} must be well-formed Unicode (no lone surrogates)` });
}

/**
 * Free text shown to others (dashboards, terminals): it may span lines and hold tabs, but no
 * other control character, no C1 control (U+0080-U+009F, the 8-bit terminal escapes) and no
 * bidirectional override that would make it read differently from what it is.
 */
export function IsDisplayText(field: string): PropertyDecorator {
  return applyDecorators(
    Matches(DISPLAY_TEXT, {
      message: `${field} must not contain control characters other than tab and line breaks`,
    }),
    IsWellFormedText(field),
  );
}

/**
 * No name twice in an array, in one pass: class-validator's ArrayUnique compares every item with
 * every other, which a body of 150,000 names turned into seconds of a blocked event loop.
 */
export function HasNoDuplicates(message: string): PropertyDecorator {
  return ValidateBy({
    name: 'hasNoDuplicates',
    validator: {
      validate: (value: unknown) => !Array.isArray(value) || new Set(value).size === value.length,
      defaultMessage: () => message,
    },
  });
}
