import { createHash } from 'node:crypto';

/**
 * Builds a WHERE clause from only the filters a request uses. Each distinct shape of SQL
 * becomes its own named prepared statement, so PostgreSQL plans every shape for the indexes
 * it can use instead of one generic `$1 IS NULL OR …` plan that scans everything.
 */
export class SqlWhereBuilder {
  private readonly conditions: string[] = [];
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder (`$3`). */
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /** Adds a condition; `build` receives `param` to place values. */
  and(build: (param: (value: unknown) => string) => string): this {
    this.conditions.push(build((v) => this.param(v)));
    return this;
  }

  sql(): string {
    return this.conditions.length ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }
}

/** A stable statement name for one SQL text (the same text always gets the same name). */
export function statementName(prefix: string, text: string): string {
  return `${prefix}_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
}
