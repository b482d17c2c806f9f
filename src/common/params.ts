import { BadRequestException, ParseUUIDPipe, PipeTransform } from '@nestjs/common';

/** Validates a name taken from the path (repository, resource): non-empty, bounded, printable. */
export class NameParamPipe implements PipeTransform<string, string> {
  constructor(
    private readonly field: string,
    private readonly maxLength = 300,
  ) {}

  transform(value: string): string {
    if (typeof value !== 'string' || value.length === 0) throw new BadRequestException(`${this.field} must not be empty`);
    if (value.length > this.maxLength) throw new BadRequestException(`${this.field} must be at most ${this.maxLength} characters`);
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new BadRequestException(`${this.field} must not contain control characters`);
    return value;
  }
}

export const uuidParam = (field: string) =>
  new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException(`${field} must be a UUID`) });
