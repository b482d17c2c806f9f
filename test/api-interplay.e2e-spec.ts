import { http, startCluster, TestCluster } from './support/test-app';

/**
 * The sfp, Dapr lock and synchronize APIs share one set of locks: Dapr store S / resource R is
 * sfp repository S / resource R, and a synchronize user's locks are sfp repository
 * `synchronize/<userId>`. Try-locks never jump the FIFO queue; their release grants it at once.
 */
describe('API interplay on shared locks', () => {
  let cluster: TestCluster;
  let api: ReturnType<typeof http>;

  const sfpPath = (repository: string, resource: string, ticketId?: string) =>
    `/sfp/api/locks/${encodeURIComponent(repository)}/${encodeURIComponent(resource)}${ticketId ? `/${ticketId}` : ''}`;
  const queue = async (repository: string, resource: string, leaseDurationSeconds = 60) => {
    const res = await api.post('/sfp/api/locks', { repository, resource, leaseDurationSeconds });
    expect(res.status).toBe(201);
    return res.body as { id: string; status: string; queuePosition?: number; fencingToken: number | null };
  };
  const daprLock = (resourceId: string, lockOwner: string, expiryInSeconds = 60) =>
    api.post('/v1.0-alpha1/lock/lockstore', { resourceId, lockOwner, expiryInSeconds });
  const daprUnlock = (resourceId: string, lockOwner: string) => api.post('/v1.0-alpha1/unlock/lockstore', { resourceId, lockOwner });

  beforeAll(async () => {
    // Long-polls re-read only every 10 s, so an answer that comes sooner came from a wake-up.
    cluster = await startCluster(1, { LONG_POLL_RECHECK_MS: '10000' });
    api = http(cluster.url, cluster.ownerToken);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('an sfp holder blocks a Dapr try-lock, and Dapr cannot unlock it', async () => {
    const holder = await queue('lockstore', 'sfp-held');
    expect(holder.status).toBe('acquired');
    expect((await daprLock('sfp-held', 'dapr-a')).body).toEqual({ success: false });
    // Held, but not by this Dapr owner.
    expect((await daprUnlock('sfp-held', 'dapr-a')).body).toEqual({ status: 2 });
    // The failed try-lock left nothing behind: only the sfp holder is listed.
    const list = (await api.get(sfpPath('lockstore', 'sfp-held'))).body;
    expect(list.map((t: { id: string }) => t.id)).toEqual([holder.id]);

    expect((await api.delete(sfpPath('lockstore', 'sfp-held', holder.id))).status).toBe(200);
    expect((await daprLock('sfp-held', 'dapr-a')).body).toEqual({ success: true });
    expect((await daprUnlock('sfp-held', 'dapr-a')).body).toEqual({ status: 0 });
  });

  it('a Dapr try-lock never jumps the sfp queue', async () => {
    const first = await queue('lockstore', 'fifo');
    const second = await queue('lockstore', 'fifo');
    expect(first.status).toBe('acquired');
    expect(second).toMatchObject({ status: 'queued', queuePosition: 1 });
    expect((await daprLock('fifo', 'dapr-a')).body).toEqual({ success: false });

    // The holder leaves: the waiter is granted in the same step, so Dapr still finds it held.
    expect((await api.delete(sfpPath('lockstore', 'fifo', first.id))).status).toBe(200);
    const waiter = (await api.get(sfpPath('lockstore', 'fifo', second.id))).body;
    expect(waiter.status).toBe('acquired');
    expect(waiter.fencingToken).toBeGreaterThan(first.fencingToken!);
    expect((await daprLock('fifo', 'dapr-a')).body).toEqual({ success: false });

    const list = (await api.get(sfpPath('lockstore', 'fifo'))).body as Array<{ id: string; status: string }>;
    expect(list.filter((t) => t.status !== 'released').map((t) => t.id)).toEqual([second.id]);
    await api.delete(sfpPath('lockstore', 'fifo', second.id));
  });

  it('a Dapr holder is a normal holder to sfp: listed, queued behind, force-clearable', async () => {
    expect((await daprLock('visible', 'dapr-owner', 120)).body).toEqual({ success: true });
    const [holder] = (await api.get(sfpPath('lockstore', 'visible'))).body;
    expect(holder).toMatchObject({ repository: 'lockstore', resource: 'visible', status: 'acquired', leaseDurationSeconds: 120 });
    expect(typeof holder.fencingToken).toBe('number');
    const waiter = await queue('lockstore', 'visible');
    expect(waiter).toMatchObject({ status: 'queued', queuePosition: 1 });

    // An owner force-clears: the Dapr owner's lock is gone (status 1), and the waiter was cleared too.
    expect((await api.delete(sfpPath('lockstore', 'visible'))).body.cleared).toBe(2);
    expect((await daprUnlock('visible', 'dapr-owner')).body).toEqual({ status: 1 });
    expect((await daprLock('visible', 'dapr-owner')).body).toEqual({ success: true });
    expect((await daprUnlock('visible', 'dapr-owner')).body).toEqual({ status: 0 });
  });

  it('a Dapr unlock grants the next queued sfp ticket at once and wakes its long-poll', async () => {
    expect((await daprLock('handoff', 'dapr-a')).body).toEqual({ success: true });
    const ticket = await queue('lockstore', 'handoff');
    expect(ticket).toMatchObject({ status: 'queued', queuePosition: 1 });

    const polling = (async () => {
      const res = await api.post(`${sfpPath('lockstore', 'handoff', ticket.id)}/acquire?waitSeconds=5`);
      return { res, at: Date.now() };
    })();
    await new Promise((r) => setTimeout(r, 300)); // let the long-poll start waiting

    const unlockedAt = Date.now();
    expect((await daprUnlock('handoff', 'dapr-a')).body).toEqual({ status: 0 });
    // Granted by the unlock itself: no acquire call needed to see it.
    const status = (await api.get(sfpPath('lockstore', 'handoff', ticket.id))).body;
    expect(status).toMatchObject({ status: 'acquired', queuePosition: 0 });
    expect(status.leaseStart).toBeTruthy();

    const { res, at } = await polling;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ acquired: true, ticket: { id: ticket.id, status: 'acquired' } });
    expect(at - unlockedAt).toBeLessThan(3_000);
    // Dapr now sees the sfp holder.
    expect((await daprLock('handoff', 'dapr-a')).body).toEqual({ success: false });
    await api.delete(sfpPath('lockstore', 'handoff', ticket.id));
  });

  it('a Dapr lease expiry grants the next sfp ticket', async () => {
    expect((await daprLock('expiring', 'dapr-a', 1)).body).toEqual({ success: true });
    const ticket = await queue('lockstore', 'expiring');
    const res = await api.post(`${sfpPath('lockstore', 'expiring', ticket.id)}/acquire?waitSeconds=5`);
    expect(res.body).toMatchObject({ acquired: true });
    // The expired Dapr owner no longer holds it.
    expect((await daprUnlock('expiring', 'dapr-a')).body).toEqual({ status: 2 });
    await api.delete(sfpPath('lockstore', 'expiring', ticket.id));
  });

  it('a synchronize user\'s locks are the sfp locks of its namespace', async () => {
    const user = (await http(cluster.url).post('/api/v0/users/anonymous')).body as { userId: string; apiKey: string };
    const sync = http(cluster.url, user.apiKey);
    const namespace = `synchronize/${user.userId}`;

    const lock = (await sync.post('/api/v0/lock', { lockName: 'deploy', requester: 'ci' })).body;
    expect(lock.locked).toBe(true);
    // An owner sees it through sfp (repository URL-encoded), and queues behind it.
    const [holder] = (await api.get(sfpPath(namespace, 'deploy'))).body;
    expect(holder).toMatchObject({ id: lock.leaseId, repository: namespace, resource: 'deploy', status: 'acquired' });
    const ticket = await queue(namespace, 'deploy');
    expect(ticket.status).toBe('queued');

    // The synchronize unlock hands the lock to the sfp waiter at once ...
    expect((await sync.post('/api/v0/unlock', { lockName: 'deploy', leaseId: lock.leaseId })).body).toEqual({ unlocked: true });
    expect((await api.get(sfpPath(namespace, 'deploy', ticket.id))).body.status).toBe('acquired');
    // ... and the synchronize user sees it held (leasedBy falls back to the key's name).
    const busy = (await sync.post('/api/v0/lock', { lockName: 'deploy', requester: 'ci' })).body;
    expect(busy.locked).toBe(false);
    expect(busy.message).toMatch(/held by/);
    expect((await sync.get('/api/v0/lock?lockName=deploy')).body).toMatchObject({ locked: true, leaseId: ticket.id });
    await api.delete(sfpPath(namespace, 'deploy', ticket.id));

    // The same name under Dapr's store is a different lock.
    expect((await daprLock('deploy', 'dapr-a')).body).toEqual({ success: true });
    expect((await sync.post('/api/v0/lock', { lockName: 'deploy', requester: 'ci' })).body.locked).toBe(true);
    expect((await daprUnlock('deploy', 'dapr-a')).body).toEqual({ status: 0 });
  });

  it('races Dapr try-locks against sfp queueing: one holder, no Dapr ticket left queued', async () => {
    const results = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => daprLock('race', `dapr-${i}`).then((r) => ({ kind: 'dapr' as const, i, ok: r.body.success as boolean }))),
      ...Array.from({ length: 5 }, () => queue('lockstore', 'race').then((t) => ({ kind: 'sfp' as const, i: -1, ok: t.status === 'acquired', id: t.id }))),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const sfpIds = results.filter((r) => r.kind === 'sfp').map((r) => (r as { id: string }).id);
    const daprWon = results.some((r) => r.kind === 'dapr' && r.ok);
    const list = (await api.get(sfpPath('lockstore', 'race'))).body as Array<{ id: string; status: string }>;
    const live = list.filter((t) => t.status !== 'released');
    expect(live.filter((t) => t.status === 'acquired')).toHaveLength(1);
    // Every queued ticket is one of the sfp tickets: the losing try-locks left none behind.
    const queued = live.filter((t) => t.status === 'queued').map((t) => t.id);
    expect(queued).toHaveLength(daprWon ? 5 : 4);
    expect(queued.every((id) => sfpIds.includes(id))).toBe(true);
    expect((await api.delete(sfpPath('lockstore', 'race'))).status).toBe(200);
  });
});
