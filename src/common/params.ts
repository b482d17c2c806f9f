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

export const uuidParam = (field: string) =>
  new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException(`${field} must be a UUID`) });
