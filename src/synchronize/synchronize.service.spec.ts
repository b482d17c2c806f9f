import { NotFoundException } from '@nestjs/common';
import { Principal } from '../auth/principal';
import { AppConfig } from '../config/app-config';
import { Ticket } from '../mutex/domain/ticket';
import { MutexService } from '../mutex/mutex.service';
import { SynchronizeService, synchronizeNamespace } from './synchronize.service';

const principal: Principal = { userId: 'u1', name: 'pipeline', role: 'application', kind: 'user', repositories: ['flxbl-io/*'], keyId: 'k1' };

function ticket(over: Partial<Ticket>): Ticket {
  const now = new Date('2030-01-01T00:00:00Z');
  return {
    id: '550e8400-e29b-41d4-a716-446655440000', lockId: 1, repository: 'synchronize/u1', resource: 'l', resources: ['l'], pool: null, lockCount: 1, status: 'acquired',
    queuePosition: 0, seq: 1, requesterId: 'u1', requesterName: 'pipeline', owner: 'svc', source: 'synchronize', reason: null, metadata: {},
    leaseDurationSeconds: 300, waitDeadline: null, idempotencyKey: null, leaseStart: now, leaseExpiresAt: new Date(now.getTime() + 300_000),
    fencingToken: 1, fencingTokens: { l: 1 }, renewedAt: null, releaseReason: null, releasedAt: null, releasedBy: null, createdAt: now, updatedAt: now, ...over,
  };
}

describe('SynchronizeService', () => {
  const mutex = { tryLock: jest.fn(), list: jest.fn(), releaseLease: jest.fn(), locksIn: jest.fn() };
  const config = Object.assign(new AppConfig(), { SYNCHRONIZE_LEASE_SECONDS: 500, MAX_LEASE_SECONDS: 400 });
  const service = new SynchronizeService(mutex as unknown as MutexService, config);

  beforeEach(() => jest.resetAllMocks());

  it('acts on the caller\'s own namespace only, whatever its repository patterns', async () => {
    mutex.tryLock.mockResolvedValue(ticket({}));
    await service.lock(principal, 'l', 'svc');
    const [p, req] = mutex.tryLock.mock.calls[0];
    expect(p).toMatchObject({ userId: 'u1', repositories: ['synchronize/u1'] });
    expect(req).toEqual({ repository: synchronizeNamespace('u1'), resource: 'l', owner: 'svc', leaseSeconds: 400, source: 'synchronize' });
  });

  it('names the holder when busy, and copes with a holder that left in between', async () => {
    mutex.tryLock.mockResolvedValue(null);
    mutex.list.mockResolvedValueOnce([ticket({ owner: 'other' })]).mockResolvedValueOnce([]);
    expect(await service.lock(principal, 'l', 'svc')).toEqual({ locked: false, message: expect.stringMatching(/held by other/) });
    expect(await service.lock(principal, 'l', 'svc')).toEqual({ locked: false, message: expect.stringMatching(/busy/) });
  });

  it('answers 404 for a lease id that is not a UUID without touching the store', async () => {
    await expect(service.unlock(principal, 'l', 'nope')).rejects.toBeInstanceOf(NotFoundException);
    expect(mutex.releaseLease).not.toHaveBeenCalled();
    mutex.releaseLease.mockResolvedValueOnce('not_found').mockResolvedValueOnce('ended').mockResolvedValueOnce('released');
    const id = '550e8400-e29b-41d4-a716-446655440000';
    await expect(service.unlock(principal, 'l', id)).rejects.toBeInstanceOf(NotFoundException);
    expect(await service.unlock(principal, 'l', id)).toMatchObject({ unlocked: false });
    expect(await service.unlock(principal, 'l', id)).toEqual({ unlocked: true });
  });

  it('lists a holder whose lease already ran out as free', async () => {
    const updatedAt = new Date('2020-01-01T00:00:00Z');
    mutex.locksIn.mockResolvedValue([
      { repository: 'synchronize/u1', resource: 'stale', fence: 1, queueLength: 0, updatedAt, holder: ticket({ leaseExpiresAt: new Date(Date.now() - 1) }) },
      { repository: 'synchronize/u1', resource: 'free', fence: 1, queueLength: 0, updatedAt, holder: null },
      { repository: 'synchronize/u1', resource: 'held', fence: 2, queueLength: 0, updatedAt, holder: ticket({}) },
    ]);
    const locks = await service.list(principal);
    expect(locks.map((l) => [l.lockName, l.locked])).toEqual([['stale', false], ['free', false], ['held', true]]);
    expect(locks[1]).toEqual({ lockName: 'free', locked: false, leaseId: null, leasedBy: null, createdAt: null, updatedAt: updatedAt.toISOString(), expiresAt: null });
    expect(locks[2]).toMatchObject({ leaseId: ticket({}).id, leasedBy: 'svc' });
  });
});
