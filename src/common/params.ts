import { BadRequestException, ParseUUIDPipe, PipeTransform } from '@nestjs/common';
import { nameProblem, nameProblemMessage } from './lock-name';

/** Validates a lock name taken from the path (repository, resource) by the one lock-name rule. */
export class NameParamPipe implements PipeTransform<string, string> {
  constructor(private readonly field: string) {}

  transform(value: string): string {
    const problem = typeof value === 'string' ? nameProblem(value) : 'blank';
    if (problem) throw new BadRequestException(nameProblemMessage(this.field, problem));
    return value;
  }
}

/**
 * ParseUUIDPipe's check (any version) with our 400, without its promise: a string of the form
 * 8-4-4-4-12 hexadecimal digits, in either case.
 */
class UuidParamPipe extends ParseUUIDPipe {
  override transform(value: string): any {
    if (!this.isUUID(value)) throw this.exceptionFactory('not a UUID');
    return value;
  }
}

export const uuidParam = (field: string) => new UuidParamPipe({ exceptionFactory: () => new BadRequestException(`${field} must be a UUID`) });
