import { Browser, chromium, Page } from 'playwright-core';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const XSS_NAME = '<img src=x onerror="window.__xss=1">';
const XSS_REASON = '<script>window.__xss=2</script>';
const XSS_URL = 'javascript:window.__xss=3';
const CI_RUN = 'https://ci.example/acme/web/runs/42';
const XSS_POOL = '<img src=x onerror=window.__xss=4>';
const XSS_RESOURCE = '<i onmouseover=window.__xss=5>sf-core-uat</i>';
const XSS_POOL_USER = '<svg onload=window.__xss=6>';

describe('dashboard in a real browser', () => {
  let cluster: TestCluster;
  let browser: Browser;
  let member: { apiKey: string };
  const pageErrors: string[] = [];
  const row = (resource: string, state?: string) => `tr[data-repository="acme/web"][data-resource="${resource}"]${state ? `[data-state="${state}"]` : ''}`;

  beforeAll(async () => {
    // Both settle before any failure is thrown, so afterAll stops the cluster even when the browser cannot launch.
    const [c, b] = await Promise.allSettled([
      startCluster(1),
      chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    ]);
    if (c.status === 'fulfilled') cluster = c.value;
    if (b.status === 'fulfilled') browser = b.value;
    for (const r of [c, b]) if (r.status === 'rejected') throw r.reason;
    const holder = await createUser(cluster.url, cluster.ownerToken, { name: 'release-bot', role: 'application' });
    const waiter = await createUser(cluster.url, cluster.ownerToken, { name: XSS_NAME, role: 'application' });
    member = await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' });
    const queue = (key: string, reason: string, metadata: Record<string, string>) =>
      http(cluster.url, key).post('/sfp/api/locks', { repository: 'acme/web', resource: 'uat', leaseDurationSeconds: 900, reason, metadata });
    expect((await queue(holder.apiKey, 'Deploying release 42', { ciUrl: CI_RUN, commit: 'abc123' })).status).toBe(201);
    expect((await queue(waiter.apiKey, XSS_REASON, { ciUrl: XSS_URL })).status).toBe(201);
  });
  afterEach(() => {
    // The page's script must never throw.
    expect(pageErrors).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
  });

  async function signIn(key: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${cluster.url}/dashboard`);
    await page.fill('#api-key', key);
    await page.click('#sign-in');
    await page.waitForSelector('#app:not([hidden])');
    return page;
  }

  it('serves the page and its assets without a key, with a strict CSP', async () => {
    const res = await fetch(`${cluster.url}/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${cluster.url}/dashboard/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${cluster.url}/dashboard/styles.css`)).status).toBe(200);
    expect((await fetch(`${cluster.url}/dashboard/admin.module.ts`)).status).toBe(404);
    expect((await fetch(`${cluster.url}/dashboard/..%2Fadmin.module.ts`)).status).toBe(404);
  });

  it('signs in, shows the holder and queue, force-clears after confirmation and shows the lock free', async () => {
    const page = await signIn(cluster.ownerToken);
    expect(await page.textContent('#me-role')).toBe('owner');
    const held = await page.waitForSelector(row('uat', 'held'));
    expect(await held.textContent()).toContain('release-bot');
    expect(await held.textContent()).toContain('Deploying release 42');
    expect(await held.textContent()).toContain('1 waiting');
    // Names and reasons are text, never markup.
    expect(await held.$eval('.waiter-name', (n) => n.textContent)).toBe(XSS_NAME);
    // The holder's CI run is a link; a javascript: "URL" never is.
    expect(await held.$eval(`a[href="${CI_RUN}"]`, (a) => a.getAttribute('target'))).toBe('_blank');

    await held.click();
    await page.waitForSelector('#detail-queue li .waiter-name');
    expect(await page.textContent('#detail-queue li .waiter-name')).toBe(XSS_NAME);
    expect(await page.textContent('#detail-queue li .reason')).toBe(XSS_REASON);
    await page.waitForSelector('#events tr[data-event="granted"]');
    expect(await page.textContent('#detail-holder')).toContain('release-bot');
    expect(await page.textContent('#detail-holder')).toContain('commit abc123');
    expect(await page.textContent('#detail-queue li .metadata')).toContain(XSS_URL);
    expect(await page.$('a[href^="javascript"]')).toBeNull();
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });

    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.click(`${row('uat')} button.danger`);
    await page.waitForSelector(row('uat', 'free'), { timeout: 10_000 });
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain('Force clear acme/web / uat?');
    expect(dialogs[0]).toContain('held by release-bot with 1 waiting');
    expect(await page.textContent('#notice')).toContain('2 ticket(s) ended');
    await page.waitForSelector('#events tr[data-event="cleared"]', { timeout: 10_000 });
    expect(await page.$(`${row('uat')} button.danger`)).toBeNull();
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();

    const lock = await http(cluster.url, member.apiKey).get(`/sfp/api/admin/resources/${encodeURIComponent('acme/web')}/uat`);
    expect(lock.body).toMatchObject({ state: 'free', holder: null, queueLength: 0 });
    await page.close();
  });

  it('updates by itself and offers members no Force clear', async () => {
    const page = await signIn(member.apiKey);
    expect(await page.isVisible('#readonly-note')).toBe(true);
    await page.waitForSelector(row('uat', 'free'));
    const app = await createUser(cluster.url, cluster.ownerToken, { name: 'late-pipeline', role: 'application' });
    await http(cluster.url, app.apiKey).post('/sfp/api/locks', { repository: 'acme/web', resource: 'staging', leaseDurationSeconds: 120 });
    const staging = await page.waitForSelector(row('staging', 'held'), { timeout: 5_000 });
    expect(await staging.textContent()).toContain('late-pipeline');
    expect(await staging.$('button.danger')).toBeNull();
    // The key survives a reload (sessionStorage) and sign-out forgets it.
    await page.reload();
    await page.waitForSelector(row('staging', 'held'));
    await page.click('#sign-out');
    await page.waitForSelector('#signin:not([hidden])');
    expect(await page.evaluate(() => sessionStorage.length + localStorage.length)).toBe(0);
    await page.close();
  });

  it('shows pools with free and held members and their queue, a set on each of its resources, pool tickets by their pool', async () => {
    const repo = 'acme/sets';
    const at = (resource: string, state?: string) => `tr[data-repository="${repo}"][data-resource="${resource}"]${state ? `[data-state="${state}"]` : ''}`;
    const owner = http(cluster.url, cluster.ownerToken);
    expect((await owner.put(`/sfp/api/pools/${encodeURIComponent(repo)}/${encodeURIComponent(XSS_POOL)}`, { resources: ['org-1', 'org-2'], description: 'UAT orgs' })).status).toBe(200);
    const as = async (name: string) => http(cluster.url, (await createUser(cluster.url, cluster.ownerToken, { name, role: 'application' })).apiKey);
    const queue = async (name: string, body: Record<string, unknown>) => (await (await as(name)).post('/sfp/api/locks', { repository: repo, leaseDurationSeconds: 900, ...body })).body;
    const set = await queue('set-holder', { resources: ['sf-core-src', XSS_RESOURCE], reason: 'release 9' });
    const pooled = await queue('pool-user', { pool: XSS_POOL });
    const waiter = await queue(XSS_POOL_USER, { pool: XSS_POOL, count: 2 });
    expect([set.status, pooled.status, pooled.resources, waiter.status]).toEqual(['acquired', 'acquired', ['org-1'], 'queued']);

    const page = await signIn(member.apiKey);
    // The pools section: members free or held (and by whom), the pool's queue; names are text.
    const card = await page.waitForSelector(`article.pool[data-pool="${XSS_POOL}"][data-repository="${repo}"]`);
    expect(await card.$eval('.pool-name', (n) => n.textContent)).toBe(XSS_POOL);
    expect(await card.$eval('.pool-free', (n) => n.textContent)).toBe('1 of 2 free');
    const held = await card.$('li[data-member="org-1"][data-state="held"]');
    expect(await held!.$eval('.holder-name', (n) => n.textContent)).toBe('pool-user');
    expect(await card.$('li[data-member="org-2"][data-state="free"]')).not.toBeNull();
    expect(await card.$$eval('.pool-queue li .waiter-name', (ns) => ns.map((n) => n.textContent))).toEqual([XSS_POOL_USER]);
    expect(await card.$eval('.pool-queue li', (n) => n.textContent)).toContain('wants 2');

    // A set's ticket on each of its resources, with the other one named.
    const src = await page.waitForSelector(at('sf-core-src', 'held'));
    expect(await src.$eval('.holder-name', (n) => n.textContent)).toBe('set-holder');
    expect(await src.$eval('.scope', (n) => n.textContent)).toBe(`set with ${XSS_RESOURCE}`);
    const uat = await page.waitForSelector(at(XSS_RESOURCE, 'held'));
    expect(await uat.$eval('.holder-name', (n) => n.textContent)).toBe('set-holder');
    expect(await uat.$eval('.scope', (n) => n.textContent)).toBe('set with sf-core-src');
    // A pool ticket by its pool, on the member it got; a free member wanted through its pool.
    const org1 = await page.waitForSelector(at('org-1', 'held'));
    expect(await org1.$eval('.scope', (n) => n.textContent)).toBe(`pool${XSS_POOL}`);
    expect(await org1.$eval('.in-pools', (n) => n.textContent)).toBe(`in ${XSS_POOL}`);
    const org2 = await page.waitForSelector(at('org-2', 'free'));
    expect(await org2.$eval('.queue-count', (n) => n.textContent)).toBe('0 waiting + 1 via pool');
    expect(await org2.$eval('.next-waiter .waiter-name', (n) => n.textContent)).toBe(XSS_POOL_USER);
    expect(await org2.$eval('.next-waiter .scope', (n) => n.textContent)).toBe(`pool${XSS_POOL} ×2`);
    if (process.env.DASHBOARD_POOLS_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_POOLS_SCREENSHOT, fullPage: true });

    // The detail of a set's second resource: its holder's set, its events naming the other one.
    await uat.click();
    await page.waitForSelector('#detail-holder .scope');
    expect(await page.textContent('#detail-resource')).toBe(XSS_RESOURCE);
    expect(await page.textContent('#detail-holder')).toContain('Set of 2');
    expect(await page.textContent('#detail-holder .scope')).toBe('set with sf-core-src');
    await page.waitForSelector('#events tr[data-event="granted"] .scope');
    expect(await page.textContent('#events tr[data-event="granted"] .scope')).toBe('with sf-core-src');
    // A member from the pools section opens its detail, with its queue through the pool.
    await page.click(`article.pool[data-pool="${XSS_POOL}"] li[data-member="org-2"] button`);
    await page.waitForSelector('#detail-queue li[data-kind="pool"]');
    expect(await page.textContent('#detail-resource')).toBe('org-2');
    expect(await page.textContent('#detail-pools')).toBe(`Member of pool ${XSS_POOL}`);
    expect(await page.textContent('#detail-queue li[data-kind="pool"] .waiter-name')).toBe(XSS_POOL_USER);
    expect(await page.textContent('#detail-queue-count')).toBe('1');

    // Nothing in a name became markup.
    expect(await page.$$('#pools img, #pools svg, #rows i, #rows img, #rows svg, #detail i, #detail svg')).toHaveLength(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.close();
  });

  it('rejects a bad key with a message', async () => {
    const page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${cluster.url}/dashboard`);
    await page.fill('#api-key', 'mtx_not-a-real-key');
    await page.click('#sign-in');
    await page.waitForSelector('#signin-error:not([hidden])');
    expect(await page.textContent('#signin-error')).toContain('not accepted');
    expect(await page.isHidden('#app')).toBe(true);
    await page.close();
  });
});
