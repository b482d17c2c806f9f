import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { MAX_NAME_LENGTH } from '../../common/lock-name';

/** No control character. */
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

/**
 * An optional text filter (a name, a prefix, a substring): not blank, not too long, printable.
 * Listed in the order TypeScript would apply them written as `@IsOptional() @IsString() …`
 * (last first), so the checks and the message reported first stay as they were.
 */
export const TextFilter = (field: string, maxLength = MAX_NAME_LENGTH) =>
  applyDecorators(Matches(PRINTABLE, { message: `${field} must not contain control characters` }), MaxLength(maxLength), IsNotEmpty(), IsString(), IsOptional());

/** `true` / `false` from a query string; anything else is left for @IsBoolean to reject. */
export const QueryBoolean = () =>
  Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value));

/** An integer from a query string; anything that is not digits is left for @IsInt to reject. */
export const QueryInt = () =>
  Transform(({ value }) => (typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value));
