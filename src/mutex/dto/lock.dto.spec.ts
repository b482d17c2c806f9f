import { ValidationPipe } from '@nestjs/common';
import fc from 'fast-check';
import { VALIDATION_OPTIONS } from '../../common/validation';
import { checkQueueLockBody, QueueLockDto } from './lock.dto';

/** class-validator and class-transformer alone: what every body went through before the compiled check. */
const classValidator = new ValidationPipe(VALIDATION_OPTIONS);
const viaClassValidator = async (body: unknown): Promise<{ dto?: unknown; error?: unknown }> => {
  try {
    return { dto: await classValidator.transform(body, { type: 'body', metatype: QueueLockDto, data: undefined }) };
  } catch (error) {
    return { error };
  }
};

/** What the server's body parser makes of the value. */
const asParsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

const name = fc.oneof(
  fc.constantFrom('flxbl-io/sf-core', 'uat', 'a', 'x'.repeat(300), 'x'.repeat(301), '', '   ', 'bad\u0007', 'del\u007f', 'bidi\u202e', 'lone\ud800', '\udc00x', '😀 ok', 'tab\tname'),
  fc.string({ maxLength: 12 }),
);
const text = fc.oneof(
  fc.constantFrom('release 42', 'line\nbreak\ttab', 'bell\u0007', 'c1\u0085', 'lone\ud800', '😀'.repeat(250), '😀'.repeat(251), 'x'.repeat(500), 'x'.repeat(501), ''),
  fc.string({ maxLength: 20, unit: 'binary' }),
);
const number = fc.oneof(fc.constantFrom(0, 1, 0.5, 1.5, 60, 100, 101, 604_800, 604_801, -1, 86_400, 1e300), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const metadata = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom('ciUrl', 'commit', 'toString', 'constructor', 'hasOwnProperty', '', ' ', 'k\u0001', 'x'.repeat(65)), fc.string({ maxLength: 6 })), fc.oneof(text, number as fc.Arbitrary<unknown>), { maxKeys: 18 }),
  fc.constantFrom(null, [], 'x', 1),
);
const anything = fc.oneof(fc.constant(null), fc.boolean(), number, name, fc.array(name, { maxLength: 3 }));
/** Mostly a plausible value of the field, sometimes anything at all. */
const mostly = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ arbitrary: plausible as fc.Arbitrary<unknown>, weight: 6 }, { arbitrary: anything as fc.Arbitrary<unknown>, weight: 1 });
const fields = {
  repository: mostly(name),
  resource: mostly(name),
  resources: mostly(fc.oneof(fc.array(name, { maxLength: 18 }), fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 }))),
  pool: mostly(name),
  count: mostly(number),
  leaseDurationSeconds: mostly(number),
  reason: mostly(text),
  waitTimeoutSeconds: mostly(number),
  metadata: mostly(metadata),
  extra: anything,
};
const body = fc.oneof(
  fc.record(fields, { requiredKeys: [] }),
  // The usual shape: a repository, a lease and one or two more fields.
  fc.record(fields, { requiredKeys: ['repository', 'leaseDurationSeconds'] }).chain((b) =>
    fc.subarray(Object.keys(b), { maxLength: Math.min(4, Object.keys(b).length) }).map((keys) => Object.fromEntries(Object.entries(b).filter(([k]) => k === 'repository' || k === 'leaseDurationSeconds' || keys.includes(k)))),
  ),
);

describe('checkQueueLockBody (the compiled check of POST /sfp/api/locks bodies)', () => {
  it('accepts the everyday bodies', () => {
    expect(checkQueueLockBody({ repository: 'flxbl-io/sf-core', resource: 'uat', leaseDurationSeconds: 900, reason: 'release 42' })).toBeInstanceOf(QueueLockDto);
    expect(checkQueueLockBody({ repository: 'r', pool: 'p', count: 2, leaseDurationSeconds: 1.5, waitTimeoutSeconds: 60, metadata: { ciUrl: 'https://ci' } })).toBeInstanceOf(QueueLockDto);
    expect(checkQueueLockBody({ repository: 'r', resources: ['a', 'b'], leaseDurationSeconds: 5, other: 1 })).toBeInstanceOf(QueueLockDto);
  });

  it('agrees with class-validator on edge cases', async () => {
    const base = { repository: 'r', leaseDurationSeconds: 1 };
    const cases: unknown[] = [
      base,
      { ...base, metadata: { toString: 'v', z: 'w' } }, // class-transformer drops a key named like a method of Object
      { ...base, metadata: { constructor: 'v' } },
      { ...base, reason: '😀'.repeat(251) }, // 502 UTF-16 units, 251 characters for MaxLength
      { ...base, reason: 'x'.repeat(501) },
      { ...base, resource: null },
      { ...base, resources: ['a', 'a'] },
      { ...base, resources: Array.from({ length: 17 }, (_, i) => `r${i}`) },
      { ...base, count: 101 },
      { ...base, leaseDurationSeconds: 0.999 },
      { ...base, waitTimeoutSeconds: 1.5 },
      { ...base, repository: ' ' },
      { ...base, access_token: 'k', constructor: 'x' },
      [base],
      'text',
      null,
    ];
    for (const value of cases) {
      const fast = checkQueueLockBody(asParsed(value));
      const slow = await viaClassValidator(asParsed(value));
      if (fast !== undefined) expect(fast).toStrictEqual(slow.dto);
      if (slow.error !== undefined) expect(fast).toBeUndefined();
    }
  });

  it('returns exactly what class-validator returns, and only for bodies it accepts', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(body, anything), async (value) => {
        const fast = checkQueueLockBody(asParsed(value));
        if (fast === undefined) return;
        accepted++;
        const slow = await viaClassValidator(asParsed(value));
        expect(slow.error).toBeUndefined();
        expect(fast).toStrictEqual(slow.dto);
      }),
      { numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(200);
  });

  it('leaves to class-validator every body it refuses', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const slow = await viaClassValidator(asParsed(value));
        if (slow.error !== undefined) {
          refused++;
          expect(checkQueueLockBody(asParsed(value))).toBeUndefined();
        }
      }),
      { numRuns: 5_000 },
    );
    expect(refused).toBeGreaterThan(100);
  });
});
