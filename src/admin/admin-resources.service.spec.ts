import { toResource } from './admin-resources.service';
import { LockRow } from './lock-overview.queries';

const at = new Date('2026-01-01T12:00:00Z');
const base: LockRow = {
  lockId: 1,
  repository: 'acme/web',
  resource: 'uat',
  fence: 7,
  queueLength: 0,
  pools: [],
  poolWaiters: 0,
  updatedAt: at,
  stuckReason: null,
  holder: null,
  nextWaiter: null,
};

describe('toResource', () => {
  it('shows a free lock', () => {
    expect(toResource(base, at)).toMatchObject({ state: 'free', holder: null, queueLength: 0, nextWaiter: null, oldestWaitSeconds: null, lastFencingToken: 7, stuck: false });
  });

  it('computes hold time, countdown and wait age against the database clock', () => {
    const r = toResource(
      {
        ...base,
        queueLength: 3,
        holder: {
          ticketId: 't1',
          requesterId: 'u1',
          requesterName: 'pipeline',
          leaseStart: new Date('2026-01-01T11:50:00Z'),
          leaseExpiresAt: new Date('2026-01-01T12:05:00Z'),
          leaseDurationSeconds: 900,
          renewedAt: null,
          fencingToken: 7,
          reason: 'deploy',
          metadata: { ciUrl: 'https://ci.example/run/1' },
          source: 'sfp',
          kind: 'single',
          resources: ['uat'],
          pool: null,
          count: 1,
        },
        nextWaiter: {
          ticketId: 't2',
          requesterId: 'u2',
          requesterName: 'next',
          createdAt: new Date('2026-01-01T11:58:00Z'),
          waitDeadline: null,
          leaseDurationSeconds: 60,
          reason: null,
          metadata: {},
          kind: 'single',
          resources: ['uat'],
          pool: null,
          count: 1,
        },
      },
      at,
    );
    expect(r.state).toBe('held');
    expect(r.holder).toMatchObject({ heldSeconds: 600, leaseRemainingSeconds: 300, fencingToken: 7, requestedBy: { id: 'u1', name: 'pipeline' } });
    expect(r.holder?.metadata).toEqual({ ciUrl: 'https://ci.example/run/1' });
    expect(r.nextWaiter).toMatchObject({ position: 1, waitSeconds: 120, requestedBy: { name: 'next' } });
    expect(r.oldestWaitSeconds).toBe(120);
  });

  it('shows what a set or pool ticket asks for, as a copy the caller may change', () => {
    const holder = { ...base, holder: null };
    const resources = ['src', 'uat'];
    const r = toResource(
      {
        ...holder,
        pools: ['uat-orgs'],
        poolWaiters: 2,
        nextWaiter: {
          ticketId: 't3',
          requesterId: 'u3',
          requesterName: 'pool-user',
          createdAt: at,
          waitDeadline: null,
          leaseDurationSeconds: 60,
          reason: null,
          metadata: {},
          kind: 'set',
          resources,
          pool: null,
          count: 2,
        },
      },
      at,
    );
    expect(r).toMatchObject({ pools: ['uat-orgs'], poolWaiters: 2, nextWaiter: { kind: 'set', resources: ['src', 'uat'], pool: null, count: 2 } });
    r.nextWaiter!.resources.push('x');
    expect(resources).toEqual(['src', 'uat']);
  });

  it('marks a stuck lock', () => {
    const r = toResource({ ...base, stuckReason: 'held_too_long' }, at);
    expect(r).toMatchObject({ state: 'stuck', stuck: true, stuckReason: 'held_too_long' });
  });
});
