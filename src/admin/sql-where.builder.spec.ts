import { SqlWhereBuilder, statementName } from './sql-where.builder';

describe('SqlWhereBuilder', () => {
  it('numbers placeholders in order and keeps only the filters used', () => {
    const w = new SqlWhereBuilder();
    w.and((p) => `a = ${p(1)}`).and((p) => `b BETWEEN ${p(2)} AND ${p(3)}`);
    expect(w.sql()).toBe('WHERE a = $1 AND b BETWEEN $2 AND $3');
    expect(w.param(4)).toBe('$4');
    expect(w.values).toEqual([1, 2, 3, 4]);
    expect(new SqlWhereBuilder().sql()).toBe('');
  });

  it('names one prepared statement per SQL shape', () => {
    expect(statementName('x', 'SELECT 1')).toBe(statementName('x', 'SELECT 1'));
    expect(statementName('x', 'SELECT 1')).not.toBe(statementName('x', 'SELECT 2'));
    expect(statementName('x', 'SELECT 1')).toMatch(/^x_[0-9a-f]{16}$/);
  });
});
