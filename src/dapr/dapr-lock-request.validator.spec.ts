import { daprErrorOf } from '../../test/support/dapr-error-of';
import { parseTryLock, parseUnlock } from './dapr-lock-request.validator';

const limits = { stores: ['lockstore'], maxLeaseSeconds: 100 };

function errorOf(fn: () => unknown): { status: number; errorCode: string; message: string } {
  const d = daprErrorOf(fn);
  return { status: d.getStatus(), errorCode: d.errorCode, message: (d.getResponse() as { message: string }).message };
}

describe('Dapr lock request validation', () => {
  it('parses a valid try-lock and unlock', () => {
    expect(parseTryLock('lockstore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 5, extra: 1 }, limits)).toEqual({
      store: 'lockstore',
      resourceId: 'r',
      lockOwner: 'o',
      expiryInSeconds: 5,
    });
    expect(parseTryLock('lockstore', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: ' 7 ' }, limits).expiryInSeconds).toBe(7);
    expect(parseUnlock('lockstore', { resourceId: 'r', lockOwner: 'o' }, limits)).toEqual({ store: 'lockstore', resourceId: 'r', lockOwner: 'o' });
  });

  it('checks every body field before the store, as Dapr does', () => {
    expect(errorOf(() => parseTryLock('nope', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 0 }, limits))).toEqual({
      status: 400,
      errorCode: 'ERR_MALFORMED_REQUEST',
      message: 'ExpiryInSeconds is not positive in lock store nope',
    });
    expect(errorOf(() => parseTryLock('nope', { lockOwner: 'o', expiryInSeconds: 1 }, limits)).message).toBe('ResourceId is empty in lock store nope');
    expect(errorOf(() => parseUnlock('nope', { resourceId: 'r', lockOwner: '' }, limits)).message).toBe('LockOwner is empty in lock store nope');
    expect(errorOf(() => parseTryLock('nope', { resourceId: 'r', lockOwner: 'o', expiryInSeconds: 1 }, limits))).toEqual({
      status: 400,
      errorCode: 'ERR_LOCK_STORE_NOT_FOUND',
      message: 'lock store nope not found',
    });
  });

  it.each([
    [null],
    [[]],
    ['s'],
    [42],
    [{ resourceId: 1, lockOwner: 'o', expiryInSeconds: 1 }],
    [{ resourceId: 'r', lockOwner: [], expiryInSeconds: 1 }],
    [{ resourceId: 'r', lockOwner: 'o', expiryInSeconds: 1.25 }],
    [{ resourceId: 'r', lockOwner: 'o', expiryInSeconds: '1e3' }],
    [{ resourceId: 'r', lockOwner: 'o', expiryInSeconds: Number.NaN }],
    [{ resourceId: 'r', lockOwner: 'o', expiryInSeconds: 2 ** 31 }],
    [{ resourceId: 'r', lockOwner: 'o', expiryInSeconds: 101 }],
    [{ resourceId: 'r'.repeat(301), lockOwner: 'o', expiryInSeconds: 1 }],
    [{ resourceId: 'r\n', lockOwner: 'o', expiryInSeconds: 1 }],
  ])('rejects malformed body #%# as ERR_MALFORMED_REQUEST', (body) => {
    expect(errorOf(() => parseTryLock('lockstore', body, limits))).toMatchObject({ status: 400, errorCode: 'ERR_MALFORMED_REQUEST' });
  });
});
