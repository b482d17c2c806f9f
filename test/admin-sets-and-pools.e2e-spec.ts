import { createUser, http, startCluster, TestCluster } from './support/test-app';

const enc = encodeURIComponent;
const REPO = 'acme/rel';

/**
 * The owner's views of sets and pools: a set's ticket is the same ticket on each of its
 * resources, a lock's queue is every waiter that can use it in the global order (by name, in a
 * set, or through a pool), pools across repositories with their members and queues, and the
 * audit trail of set and pool tickets.
 *
 * acme/rel: pool uat-orgs = [uat-1, uat-2].
 *   T1 holder-a  set [src, uat-1]      granted (src was used once before: tokens src 2, uat-1 1)
 *   T2 pool-b    uat-orgs × 1          granted uat-2
 *   T3 set-c     set [uat-2, src]      waits
 *   T4 pool-d    uat-orgs × 2          waits
 *   T5 single-e  uat-1                 waits
 * acme/qa: pool qa-pool = [qa-1, qa-2]; qa-1 held by name, a pool ticket for both waits (qa-2 is
 * free, wanted only through the pool). acme/rel idle-pool = [idle-1], never used.
 * other/repo: pool other-pool = [o-1], one member held.
 */
describe('admin: sets and pools', () => {
  let cluster: TestCluster;
  let member: { id: string; apiKey: string };
  let application: { id: string; apiKey: string };
  let limited: { id: string; apiKey: string };
  const t: Record<string, any> = {};

  const owner = () => http(cluster.url, cluster.ownerToken);
  const poolPath = (repository: string, name: string) => `/sfp/api/pools/${enc(repository)}/${enc(name)}`;

  beforeAll(async () => {
    cluster = await startCluster(1);
    member = await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' });
    application = await createUser(cluster.url, cluster.ownerToken, { name: 'reader-app', role: 'application' });
    limited = await createUser(cluster.url, cluster.ownerToken, { name: 'acme-viewer', role: 'member', repositories: ['acme/*'] });
    const as = async (name: string) => http(cluster.url, (await createUser(cluster.url, cluster.ownerToken, { name, role: 'application' })).apiKey);
    const queue = async (c: ReturnType<typeof http>, repository: string, body: Record<string, unknown>) => {
      const res = await c.post('/sfp/api/locks', { repository, leaseDurationSeconds: 600, ...body });
      expect(res.status).toBe(201);
      return res.body;
    };
    for (const [repository, pool, resources] of [
      [REPO, 'uat-orgs', ['uat-1', 'uat-2']],
      [REPO, 'idle-pool', ['idle-1']],
      ['acme/qa', 'qa-pool', ['qa-1', 'qa-2']],
      ['other/repo', 'other-pool', ['o-1']],
    ] as const) {
      expect((await owner().put(poolPath(repository, pool), { resources })).status).toBe(200);
    }
    const a = await as('holder-a');
    const once = await queue(a, REPO, { resource: 'src' });
    expect((await a.delete(`/sfp/api/locks/${enc(REPO)}/src/${once.id}`)).status).toBe(200);
    t.T1 = await queue(a, REPO, { resources: ['src', 'uat-1'], reason: 'release 7' });
    t.T2 = await queue(await as('pool-b'), REPO, { pool: 'uat-orgs' });
    t.T3 = await queue(await as('set-c'), REPO, { resources: ['uat-2', 'src'] });
    t.T4 = await queue(await as('pool-d'), REPO, { pool: 'uat-orgs', count: 2 });
    t.T5 = await queue(await as('single-e'), REPO, { resource: 'uat-1' });
    expect([t.T1.status, t.T2.status, t.T3.status, t.T4.status, t.T5.status]).toEqual(['acquired', 'acquired', 'queued', 'queued', 'queued']);
    expect(t.T1.fencingTokens).toEqual({ src: 2, 'uat-1': 1 });
    expect(t.T2.resources).toEqual(['uat-2']);
    const qa = await as('qa-app');
    t.T6 = await queue(qa, 'acme/qa', { resource: 'qa-1' });
    t.T7 = await queue(qa, 'acme/qa', { pool: 'qa-pool', count: 2 });
    expect([t.T6.status, t.T7.status]).toEqual(['acquired', 'queued']);
    t.T8 = await queue(await as('other-app'), 'other/repo', { pool: 'other-pool' });
    expect(t.T8.status).toBe('acquired');
  });
  afterAll(async () => {
    await cluster?.close();
  });

  describe('resources overview', () => {
    it('shows a set\'s ticket on each of its resources, with all of them, and its token on each', async () => {
      const res = await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources?repository=${enc(REPO)}`);
      expect(res.status).toBe(200);
      const by = Object.fromEntries(res.body.items.map((i: any) => [i.resource, i]));
      expect(Object.keys(by)).toEqual(['idle-1', 'src', 'uat-1', 'uat-2']);
      for (const [resource, token] of [['src', 2], ['uat-1', 1]] as const) {
        expect(by[resource].holder).toMatchObject({
          ticketId: t.T1.id,
          kind: 'set',
          resources: ['src', 'uat-1'],
          pool: null,
          count: 2,
          fencingToken: token,
          reason: 'release 7',
          requestedBy: { name: 'holder-a' },
        });
      }
      expect(by['uat-2'].holder).toMatchObject({ ticketId: t.T2.id, kind: 'pool', resources: ['uat-2'], pool: 'uat-orgs', count: 1, fencingToken: 1 });
      expect(by['idle-1']).toMatchObject({ state: 'free', holder: null, pools: ['idle-pool'], queueLength: 0, poolWaiters: 0, nextWaiter: null });
    });

    it('counts tickets naming a resource in queueLength and its pools\' waiting tickets in poolWaiters; the next waiter is the earliest that can use it', async () => {
      const items = (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources?repository=${enc(REPO)}`)).body.items;
      const by = Object.fromEntries(items.map((i: any) => [i.resource, i]));
      // src: T3 names it second in its set (it waits on uat-2's lock row, yet it is src's next waiter).
      expect(by.src).toMatchObject({ pools: [], queueLength: 1, poolWaiters: 0, nextWaiter: { ticketId: t.T3.id, position: 1, kind: 'set', resources: ['uat-2', 'src'], count: 2 } });
      expect(by['uat-1']).toMatchObject({
        pools: ['uat-orgs'],
        queueLength: 1,
        poolWaiters: 1,
        nextWaiter: { ticketId: t.T4.id, kind: 'pool', resources: [], pool: 'uat-orgs', count: 2, requestedBy: { name: 'pool-d' } },
      });
      expect(by['uat-2']).toMatchObject({ pools: ['uat-orgs'], queueLength: 1, poolWaiters: 1, nextWaiter: { ticketId: t.T3.id } });
    });

    it('lists in one lock\'s queue every waiter that can use it, in the global order', async () => {
      const c = http(cluster.url, member.apiKey);
      const queueOf = async (repository: string, resource: string) => {
        const res = await c.get(`/sfp/api/admin/resources/${enc(repository)}/${enc(resource)}`);
        expect(res.status).toBe(200);
        return res.body.queue.map((w: any) => [w.position, w.ticketId, w.kind]);
      };
      expect(await queueOf(REPO, 'src')).toEqual([[1, t.T3.id, 'set']]);
      expect(await queueOf(REPO, 'uat-1')).toEqual([[1, t.T4.id, 'pool'], [2, t.T5.id, 'single']]);
      expect(await queueOf(REPO, 'uat-2')).toEqual([[1, t.T3.id, 'set'], [2, t.T4.id, 'pool']]);
      expect(await queueOf(REPO, 'idle-1')).toEqual([]);
      const uat1 = (await c.get(`/sfp/api/admin/resources/${enc(REPO)}/uat-1`)).body;
      expect(uat1.queue[1]).toMatchObject({ kind: 'single', resources: ['uat-1'], pool: null, count: 1, requestedBy: { name: 'single-e' } });
      // A free member wanted only through its pool: in the queue, and active.
      const qa2 = (await c.get(`/sfp/api/admin/resources/${enc('acme/qa')}/qa-2`)).body;
      expect(qa2).toMatchObject({ state: 'free', queueLength: 0, poolWaiters: 1, nextWaiter: { ticketId: t.T7.id, pool: 'qa-pool', count: 2 } });
      expect(qa2.queue.map((w: any) => w.ticketId)).toEqual([t.T7.id]);
      const active = (await c.get(`/sfp/api/admin/resources?repository=${enc('acme/qa')}&active=true`)).body.items.map((i: any) => i.resource);
      expect(active).toEqual(['qa-1', 'qa-2']);
      expect((await c.get(`/sfp/api/admin/resources?repository=${enc(REPO)}&active=true`)).body.total).toBe(3); // not idle-1
    });
  });

  describe('pools overview', () => {
    it('lists every pool the key may see, across repositories, with members, holders and queue, to every role', async () => {
      for (const key of [cluster.ownerToken, application.apiKey, member.apiKey]) {
        const res = await http(cluster.url, key).get('/sfp/api/admin/pools');
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ total: 4, limit: 50, offset: 0 });
        expect(res.body.items.map((p: any) => `${p.repository}:${p.name}`)).toEqual(['acme/qa:qa-pool', 'acme/rel:idle-pool', 'acme/rel:uat-orgs', 'other/repo:other-pool']);
        expect(Date.parse(res.body.at)).not.toBeNaN();
      }
      const uat = (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/pools?repository=${enc(REPO)}&prefix=uat`)).body;
      expect(uat.total).toBe(1);
      expect(uat.items[0]).toMatchObject({
        repository: REPO,
        name: 'uat-orgs',
        size: 2,
        free: 0,
        held: 2,
        members: [
          { resource: 'uat-1', state: 'held', lastFencingToken: 1, holder: { id: t.T1.id, resources: ['src', 'uat-1'], pool: null, requestedBy: { name: 'holder-a' } } },
          { resource: 'uat-2', state: 'held', holder: { id: t.T2.id, resources: ['uat-2'], pool: 'uat-orgs', count: 1 } },
        ],
        queue: [{ id: t.T4.id, status: 'queued', pool: 'uat-orgs', count: 2, resources: [], requestedBy: { name: 'pool-d' } }],
      });
      const idle = (await http(cluster.url, member.apiKey).get('/sfp/api/admin/pools?prefix=idle')).body.items[0];
      expect(idle).toMatchObject({ name: 'idle-pool', size: 1, free: 1, held: 0, members: [{ resource: 'idle-1', state: 'free', holder: null }], queue: [] });
    });

    it('filters by contains (pool, repository or member name), active, and pages', async () => {
      const get = async (q: string) => (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/pools?${q}`)).body;
      const names = async (q: string) => (await get(q)).items.map((p: any) => p.name);
      expect(await names('contains=O-1')).toEqual(['other-pool']); // a member's name, any case
      expect(await names('contains=ACME%2FQA')).toEqual(['qa-pool']);
      expect(await names('contains=orgs')).toEqual(['uat-orgs']);
      expect((await get('contains=%25')).total).toBe(0); // LIKE wildcards are literal
      expect(await names('active=true')).toEqual(['qa-pool', 'uat-orgs', 'other-pool']);
      const p2 = await get('limit=2&offset=2');
      expect([p2.total, p2.limit, p2.offset]).toEqual([4, 2, 2]);
      expect(p2.items.map((p: any) => p.name)).toEqual(['uat-orgs', 'other-pool']);
      expect((await get('offset=50')).items).toEqual([]);
    });

    it('shows a key limited to repository patterns only its repositories (403 when asking for others)', async () => {
      const c = http(cluster.url, limited.apiKey);
      const res = await c.get('/sfp/api/admin/pools');
      expect(res.status).toBe(200);
      expect(res.body.items.map((p: any) => p.repository)).toEqual(['acme/qa', 'acme/rel', 'acme/rel']);
      expect((await c.get(`/sfp/api/admin/pools?repository=${enc('other/repo')}`)).status).toBe(403);
      expect((await c.get('/sfp/api/admin/pools?contains=other')).body.total).toBe(0);
    });

    it('answers 400 naming the field on bad filters and paging, 401 without a key', async () => {
      const c = http(cluster.url, member.apiKey);
      for (const q of ['limit=0', 'limit=501', 'limit=x', 'offset=-1', 'active=yes', 'contains=', 'prefix=a%00', 'repository=a%0Ab']) {
        const res = await c.get(`/sfp/api/admin/pools?${q}`);
        expect([q, res.status]).toEqual([q, 400]);
        expect(res.body.message).toMatch(new RegExp(q.split('=')[0]));
      }
      expect((await http(cluster.url).get('/sfp/api/admin/pools')).status).toBe(401);
    });
  });

  describe('audit trail', () => {
    it('names a set\'s and a pool ticket\'s resources and pool', async () => {
      const items = (await http(cluster.url, member.apiKey).get(`/sfp/api/admin/events?repository=${enc(REPO)}&limit=500`)).body.items;
      const of = (ticket: any, type: string) => items.find((e: any) => e.ticketId === ticket.id && e.type === type);
      expect(of(t.T1, 'granted')).toMatchObject({ resource: 'src', resources: ['src', 'uat-1'], pool: null, fencingToken: 2 });
      // A pool ticket waits without a resource: its pool stands for it, then it names the member it got.
      expect(of(t.T2, 'queued')).toMatchObject({ resource: 'uat-orgs', resources: null, pool: 'uat-orgs' });
      expect(of(t.T2, 'granted')).toMatchObject({ resource: 'uat-2', resources: ['uat-2'], pool: 'uat-orgs' });
      expect(of(t.T5, 'queued')).toMatchObject({ resource: 'uat-1', resources: null, pool: null });
    });

    it('finds by resource the events of sets that name it anywhere, with or without the repository', async () => {
      const c = http(cluster.url, member.apiKey);
      const ids = async (q: string) => (await c.get(`/sfp/api/admin/events?${q}&limit=500`)).body.items.map((e: any) => [e.ticketId, e.type]);
      const src = await ids(`repository=${enc(REPO)}&resource=src`);
      expect(src.filter(([id]: string[]) => id === t.T3.id)).toEqual([[t.T3.id, 'queued']]); // src is its second resource
      expect(src.filter(([id]: string[]) => id === t.T1.id)).toEqual([[t.T1.id, 'granted'], [t.T1.id, 'queued']]);
      expect(src).toHaveLength(3 + 2 + 1); // the single ticket's queued, granted, released; T1; T3
      expect(await ids('resource=src')).toEqual(src);
      expect(await ids(`repository=${enc(REPO)}&resource=uat-2`)).toEqual([[t.T3.id, 'queued'], [t.T2.id, 'granted']]);
      // Pages of the merged parts: newest first, no gaps or repeats.
      const paged: string[][] = [];
      let cursor: string | null = null;
      do {
        const page: any = (await c.get(`/sfp/api/admin/events?repository=${enc(REPO)}&resource=src&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).body;
        paged.push(...page.items.map((e: any) => [e.ticketId, e.type]));
        cursor = page.nextCursor;
      } while (cursor);
      expect(paged).toEqual(src);
    });

    it('finds a pool\'s events by pool, only in the repositories the key may read', async () => {
      const events = (await http(cluster.url, member.apiKey).get('/sfp/api/admin/events?pool=uat-orgs')).body.items;
      expect(events.map((e: any) => [e.ticketId, e.type])).toEqual([[t.T4.id, 'queued'], [t.T2.id, 'granted'], [t.T2.id, 'queued']]);
      expect((await http(cluster.url, limited.apiKey).get('/sfp/api/admin/events?pool=other-pool')).body.items).toEqual([]);
      expect((await http(cluster.url, member.apiKey).get('/sfp/api/admin/events?pool=other-pool')).body.items).toHaveLength(2);
      for (const q of ['pool=', 'pool=a%00b']) {
        const res = await http(cluster.url, member.apiKey).get(`/sfp/api/admin/events?${q}`);
        expect([q, res.status]).toEqual([q, 400]);
        expect(res.body.message).toMatch(/pool/);
      }
    });
  });

  it('agrees with every waiting ticket\'s own queuePosition: 1 + the waiters ahead in the queues of the locks it can use', async () => {
    const repository = 'mix/repo';
    const resources = ['a', 'b', 'c', 'd', 'e'];
    const members = ['c', 'd', 'e'];
    expect((await owner().put(poolPath(repository, 'p'), { resources: members })).status).toBe(200);
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const c = http(cluster.url, cluster.ownerToken);
    const tickets: any[] = [];
    for (let i = 0; i < 30; i++) {
      const kind = random(3);
      const body =
        kind === 0 ? { resource: resources[random(5)] }
        : kind === 1 ? { resources: [...new Set([resources[random(5)], resources[random(5)], resources[random(5)]])] }
        : { pool: 'p', count: 1 + random(2) };
      const res = await c.post('/sfp/api/locks', { repository, leaseDurationSeconds: 600, ...body });
      expect(res.status).toBe(201);
      tickets.push({ ...res.body, usable: 'pool' in body ? members : ((body as any).resources ?? [(body as any).resource]) });
    }
    const queues: Record<string, string[]> = {};
    for (const r of resources) {
      queues[r] = (await c.get(`/sfp/api/admin/resources/${enc(repository)}/${r}`)).body.queue.map((w: any) => w.ticketId);
    }
    let waiting = 0;
    for (const t of tickets) {
      const now = (await c.get(`/sfp/api/locks/${enc(repository)}/${enc(t.resource)}/${t.id}`)).body;
      if (now.status !== 'queued') continue;
      waiting++;
      const ahead = new Set<string>();
      for (const r of t.usable) {
        const q = queues[r];
        expect([t.id, r, q.includes(t.id)]).toEqual([t.id, r, true]);
        q.slice(0, q.indexOf(t.id)).forEach((id) => ahead.add(id));
      }
      expect([t.id, now.queuePosition]).toEqual([t.id, 1 + ahead.size]);
    }
    expect(waiting).toBeGreaterThan(10);
  });

  it('documents the new path and fields in Swagger with examples', async () => {
    const doc = (await http(cluster.url).get('/docs-json')).body;
    expect(doc.paths['/sfp/api/admin/pools'].get.responses['200'].content['application/json'].schema.$ref).toMatch(/PoolPageDto/);
    const params = doc.paths['/sfp/api/admin/pools'].get.parameters.map((p: any) => p.name);
    expect(params).toEqual(expect.arrayContaining(['repository', 'prefix', 'contains', 'active', 'limit', 'offset']));
    expect(doc.paths['/sfp/api/admin/events'].get.parameters.map((p: any) => p.name)).toContain('pool');
    const s = doc.components.schemas;
    for (const dto of ['HolderDto', 'WaiterDto']) {
      expect(s[dto].properties.kind.enum).toEqual(['single', 'set', 'pool']);
      for (const field of ['kind', 'resources', 'pool', 'count']) {
        expect([dto, field, s[dto].properties[field].description]).toEqual([dto, field, expect.any(String)]);
        expect([dto, field, 'example' in s[dto].properties[field]]).toEqual([dto, field, true]);
      }
    }
    for (const field of ['pools', 'poolWaiters']) expect(s.ResourceDto.properties[field]).toMatchObject({ description: expect.any(String), example: expect.anything() });
    expect(s.EventDto.properties.resources).toMatchObject({ nullable: true, example: ['sf-core-src', 'sf-core-uat'] });
    expect(s.EventDto.properties.pool).toMatchObject({ nullable: true, description: expect.any(String) });
    expect(s.PoolPageDto.properties.items.items.$ref).toMatch(/PoolDto/);
  });
});
