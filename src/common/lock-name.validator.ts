import { applyDecorators } from '@nestjs/common';
import { IsNotEmpty, IsString, Matches, MaxLength } from 'class-validator';

/** Longest repository, resource or lock name. */
export const MAX_NAME_LENGTH = 300;

/**
 * A name that becomes part of a lock's identity: printable (no control characters), not blank, at
 * most 300 characters, and well-formed Unicode (a lone UTF-16 surrogate would be stored as U+FFFD,
 * a different name from the one sent).
 */
export function IsLockName(field: string): PropertyDecorator {
  return applyDecorators(
    IsString(),
    IsNotEmpty(),
    MaxLength(MAX_NAME_LENGTH),
    Matches(/^[^\u0000-\u001f\u007f]+$/, { message: `${field} must not contain control characters` }),
    Matches(/\S/, { message: `${field} must not be blank` }),
    Matches(/^(?:[^\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/, { message: `${field} must be well-formed Unicode (no lone surrogates)` }),
  );
}
