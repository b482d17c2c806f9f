import fc from 'fast-check';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parseTryLock } from '../dapr/dapr-lock-request.validator';
import { QueueLockDto } from '../mutex/dto/lock.dto';
import { SyncLockDto } from '../synchronize/dto/synchronize.dto';
import { MAX_NAME_LENGTH, nameProblem } from './lock-name';
import { NameParamPipe } from './params';

/** Whether each surface accepts `name` as a lock name. */
function acceptedBy(name: string) {
  const sfpBody = validateSync(plainToInstance(QueueLockDto, { repository: 'org/repo', resource: name, leaseDurationSeconds: 60 })).length === 0;
  const synchronize = validateSync(plainToInstance(SyncLockDto, { lockName: name, requester: 'me' })).length === 0;
  const ok = (f: () => unknown) => {
    try {
      f();
      return true;
    } catch {
      return false;
    }
  };
  const sfpPath = ok(() => new NameParamPipe('resource').transform(name));
  const dapr = ok(() => parseTryLock('lockstore', { resourceId: name, lockOwner: 'me', expiryInSeconds: 10 }, { stores: ['lockstore'], maxLeaseSeconds: 60 }));
  return { sfpBody, sfpPath, synchronize, dapr };
}

/** Strings that often break a rule: control and bidi characters, blanks, surrogate halves, long runs. */
const nameLike = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.array(fc.constantFrom('a', ' ', '\t', '\n', '\u0085', '\u009b', '\u007f', '\u202e', '\u2066', '\ud800', '\udc00', '\ud83d\ude00', 'é', '/'), { maxLength: 8 }).map((a) => a.join('')),
  fc.nat({ max: 3 }).map((n) => 'x'.repeat(MAX_NAME_LENGTH - 1 + n)),
);

describe('the lock-name rule', () => {
  it.each([
    ['flxbl-io/sf-core', null],
    ['uat org 1', null],
    ['😀 emoji', null],
    ['x'.repeat(MAX_NAME_LENGTH), null],
    ['x'.repeat(MAX_NAME_LENGTH + 1), 'too_long'],
    ['', 'blank'],
    ['   ', 'blank'],
    ['a\nb', 'control'],
    ['a\u0085b', 'control'],
    ['gnp.\u202eexe', 'control'],
    ['a\ud800b', 'malformed'],
    ['\udc00', 'malformed'],
  ])('%j → %s', (name, problem) => {
    expect(nameProblem(name)).toBe(problem);
  });

  it('is the same on every surface: sfp bodies and paths, synchronize and Dapr accept exactly the same names', () => {
    fc.assert(
      fc.property(nameLike, (name) => {
        const expected = nameProblem(name) === null;
        expect(acceptedBy(name)).toEqual({ sfpBody: expected, sfpPath: expected, synchronize: expected, dapr: expected });
      }),
      { numRuns: 2_000 },
    );
  });
});
