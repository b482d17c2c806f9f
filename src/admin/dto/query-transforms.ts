import { Transform } from 'class-transformer';

/** `true` / `false` from a query string; anything else is left for @IsBoolean to reject. */
export const QueryBoolean = () =>
  Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value));

/** An integer from a query string; anything that is not digits is left for @IsInt to reject. */
export const QueryInt = () =>
  Transform(({ value }) => (typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value));
