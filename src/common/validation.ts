import { ArgumentMetadata, BadRequestException, Type, ValidationError, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';

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

/**
 * A precompiled check of a body class, for the hot routes: the instance the global ValidationPipe
 * would return (unknown fields dropped) when the body is plainly valid, or undefined for anything
 * else, which then goes through class-validator as before and gets exactly its 400 messages. A
 * check must never accept a body class-validator would refuse, nor return a different instance.
 */
export type CompiledBodyCheck<T> = (body: unknown) => T | undefined;

const compiledBodyChecks = new Map<Type<unknown>, CompiledBodyCheck<unknown>>();

/** Registers `check` as the fast path of bodies of class `type` (see CompiledBodyCheck). */
export function registerCompiledBodyCheck<T>(type: Type<T>, check: CompiledBodyCheck<T>): void {
  compiledBodyChecks.set(type, check);
}

/**
 * The global pipe: class-validator and class-transformer, but a body with a compiled check skips
 * them when it passes that check, and values that are not validated at all (path parameters,
 * the principal) are handed back without a promise.
 */
class CompiledFirstValidationPipe extends ValidationPipe {
  // Nest awaits whatever a pipe returns: a value needs no promise around it.
  override transform(value: unknown, metadata: ArgumentMetadata): any {
    const metatype = metadata.metatype;
    if (metadata.type === 'body' && metatype) {
      const check = compiledBodyChecks.get(metatype);
      if (check) {
        const dto = check(value);
        if (dto !== undefined) return dto;
      }
    }
    if (!metatype || !this.toValidate(metadata)) return this.transformPrimitive(value, metadata);
    // A body class describes an object: a number, string or array sent instead is named as such.
    if (metadata.type === 'body' && value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value))) {
      throw new BadRequestException(`The body must be a JSON object (it is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`})`);
    }
    return super.transform(value, metadata);
  }
}

/** One global validation setup: unknown fields dropped, every message names its field. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: false, // extra fields from newer clients are dropped, not fatal
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  stopAtFirstError: false,
  exceptionFactory: (errors) => new BadRequestException(flatten(errors)),
};

export function createValidationPipe(): ValidationPipe {
  return new CompiledFirstValidationPipe(VALIDATION_OPTIONS);
}
