import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** Checks of what a value is; when one fails, checks of its length or content only add noise. */
const TYPE_CHECKS = ['isString', 'isNumber', 'isInt', 'isBoolean', 'isArray', 'isDate', 'isUuid', 'isIn', 'isEnum', 'isObject'];

/** The messages worth reading for one field: it is missing, or of the wrong type, or each broken rule. */
export function messagesOf(e: ValidationError): string[] {
  const constraints = e.constraints ?? {};
  if (Object.keys(constraints).length === 0) return [];
  if (e.value === undefined) return [`${e.property} is required`];
  if (e.value === null) return [`${e.property} must not be null`];
  const type = TYPE_CHECKS.find((k) => k in constraints);
  return type ? [constraints[type]] : Object.values(constraints);
}

function flatten(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((e) => {
    const path = parent ? `${parent}.${e.property}` : e.property;
    const own = messagesOf(e);
    return [...own.map((m) => (m.startsWith(e.property) ? `${path}${m.slice(e.property.length)}` : `${path}: ${m}`)), ...flatten(e.children ?? [], path)];
  });
}

/** One global validation setup: unknown fields dropped, every message names its field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: false, // extra fields from newer clients are dropped, not fatal
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) => new BadRequestException(flatten(errors)),
  });
}
