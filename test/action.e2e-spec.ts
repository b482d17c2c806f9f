import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, ROOT, startNode, waitFor } from './support/cli-process';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

const DIST = join(ROOT, 'actions', 'lock', 'dist');

/** name<<delimiter / value / delimiter records, as the runner reads GITHUB_OUTPUT and GITHUB_STATE. */
function fileCommands(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  if (!existsSync(file)) return values;
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) values[m[1]] = m[3];
  return values;
}

/** Running: an exited renewer waits, a zombie, for init to reap it (it was detached from main). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * The lock action's main and post steps run as the runner runs them: `node dist/main.js` with
 * INPUT_* variables and GITHUB_OUTPUT / GITHUB_STATE files, post with the saved state as
 * STATE_* variables, against real instances.
 */
describe('lock action (actions/lock)', () => {
  let cluster: TestCluster;
  let appKey: string;
  let holderKey: string;
  let seq = 0;
  const jobs: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster(1);
    appKey = (await createUser(cluster.url, cluster.ownerToken, { name: 'actions-deploy', role: 'application' })).apiKey;
    holderKey = (await createUser(cluster.url, cluster.ownerToken, { name: 'other-pipeline', role: 'application' })).apiKey;
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    for (const dir of jobs) rmSync(dir, { recursive: true, force: true });
  });

  const newLock = () => ({ repository: 'flxbl-io/sf-core', resource: `action-${++seq}` });
  const path = (l: { repository: string; resource: string }) => `/sfp/api/locks/${encodeURIComponent(l.repository)}/${encodeURIComponent(l.resource)}`;
  const owner = () => http(cluster.url, cluster.ownerToken);
  const tickets = async (l: { repository: string; resource: string }) => (await owner().get(path(l))).body as any[];
  const ticket = async (l: { repository: string; resource: string }, id: string) => (await owner().get(`${path(l)}/${id}`)).body;
  const holdBy = async (l: { repository: string; resource: string }) => (await http(cluster.url, holderKey).post('/sfp/api/locks', { ...l, leaseDurationSeconds: 30 })).body;

  /** One job: its runner temp folder and files, and the environment of each step. */
  function job(l: { repository: string; resource: string }, inputs: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'qm-action-'));
    jobs.push(dir);
    const files = { GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STATE: join(dir, 'state') };
    const env = (extra: Record<string, string> = {}) =>
      cleanEnv({
        ...files,
        RUNNER_TEMP: dir,
        GITHUB_ACTIONS: 'true',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'flxbl-io/sf-core',
        GITHUB_RUN_ID: '777',
        GITHUB_SHA: 'feedbeef',
        GITHUB_REF_NAME: 'main',
        GITHUB_WORKFLOW: 'release',
        GITHUB_JOB: 'deploy',
        // Every input the runner passes, with action.yml's defaults unless the test sets one.
        INPUT_URL: cluster.url,
        INPUT_TOKEN: appKey,
        INPUT_REPOSITORY: l.repository,
        INPUT_RESOURCE: l.resource,
        INPUT_POOL: '',
        INPUT_COUNT: '1',
        INPUT_LEASE: '15m',
        'INPUT_WAIT-TIMEOUT': '',
        INPUT_REASON: '',
        ...inputs,
        ...extra,
      });
    return {
      dir,
      env,
      main: () => startNode(join(DIST, 'main.js'), [], env()),
      /** Post gets what main saved, as the runner passes it. */
      post: () => {
        const state = Object.fromEntries(Object.entries(fileCommands(files.GITHUB_STATE)).map(([k, v]) => [`STATE_${k}`, v]));
        return startNode(join(DIST, 'post.js'), [], env(state)).exited;
      },
      outputs: () => fileCommands(files.GITHUB_OUTPUT),
      state: () => fileCommands(files.GITHUB_STATE),
    };
  }

  it('main takes the lock and outputs the ticket; the lease outlives later steps (3x the lease); post releases and stops the renewer', async () => {
    const l = newLock();
    const j = job(l, { INPUT_LEASE: '1s', INPUT_REASON: 'release 42' });
    const main = await j.main().exited;
    expect(main.code).toBe(0);
    // The key shows only in the command that masks it.
    expect(main.stdout.split('\n').filter((line) => line.includes(appKey))).toEqual([`::add-mask::${appKey}`]);
    const { ticket: id, 'fencing-token': fence } = j.outputs();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await ticket(l, id)).toMatchObject({ status: 'acquired', fencingToken: Number(fence), reason: 'release 42' });
    const renewerPid = Number(j.state().renewerPid);
    expect(alive(renewerPid)).toBe(true);

    // Later steps: other processes, 3.5 leases long. Someone else waits all along, in vain.
    const waiter = await holdBy(l);
    const end = Date.now() + 3_500;
    while (Date.now() < end) {
      expect((await tickets(l)).find((t) => t.status === 'acquired')?.id).toBe(id);
      await new Promise((r) => setTimeout(r, 200));
    }

    const post = await j.post();
    expect(post.code).toBe(0);
    expect(post.stdout).toMatch(/Released flxbl-io\/sf-core action-\d+ after holding it/);
    expect(await ticket(l, id)).toMatchObject({ status: 'released', releaseReason: 'released' });
    expect((await ticket(l, waiter.id)).status).toBe('acquired');
    expect(alive(renewerPid)).toBe(false);
  });

  it('holds several resources (one per line of resource), or members of a pool; outputs what it holds', async () => {
    const [a, b] = [newLock(), newLock()];
    const set = job(a, { INPUT_RESOURCE: `${a.resource}\n${b.resource}\n` });
    expect((await set.main().exited).code).toBe(0);
    expect(JSON.parse(set.outputs().resources)).toEqual([a.resource, b.resource]);
    expect(Object.keys(JSON.parse(set.outputs()['fencing-tokens']))).toEqual([a.resource, b.resource]);
    expect((await tickets(b)).find((t) => t.status === 'acquired')?.id).toBe(set.outputs().ticket);
    expect((await set.post()).code).toBe(0);
    expect((await tickets(b)).filter((t) => t.status !== 'released')).toEqual([]);

    const pool = `pool-${a.resource}`;
    const poolUrl = `/sfp/api/pools/${encodeURIComponent(a.repository)}/${pool}`;
    expect((await http(cluster.url, cluster.ownerToken).put(poolUrl, { resources: [`${pool}-1`, `${pool}-2`, `${pool}-3`] })).status).toBe(200);
    const fromPool = job(a, { INPUT_RESOURCE: '', INPUT_POOL: pool, INPUT_COUNT: '2' });
    expect((await fromPool.main().exited).code).toBe(0);
    expect(JSON.parse(fromPool.outputs().resources)).toHaveLength(2);
    expect((await http(cluster.url, cluster.ownerToken).get(poolUrl)).body.held).toBe(2);
    expect((await fromPool.post()).code).toBe(0);
    expect((await http(cluster.url, cluster.ownerToken).get(poolUrl)).body.held).toBe(0);
    const both = await job(a, { INPUT_POOL: pool }).main().exited;
    expect([both.code, both.stdout]).toEqual([1, expect.stringContaining("give input 'resource' or 'pool', not both")]);
  });

  it('main waits its turn, logging the queue position; post releases after the job', async () => {
    const l = newLock();
    const holder = await holdBy(l);
    const j = job(l);
    const main = j.main();
    await waitFor('the position in the log', () => main.stdout.includes('position 1 of 1, held by other-pipeline'));
    await http(cluster.url, holderKey).delete(`${path(l)}/${holder.id}`);
    expect((await main.exited).code).toBe(0);
    const id = j.outputs().ticket;
    expect((await ticket(l, id)).status).toBe('acquired');
    expect((await j.post()).code).toBe(0);
    expect(await ticket(l, id)).toMatchObject({ status: 'released', releaseReason: 'released' });
  });

  it('a job killed while main waits: post still leaves the queue (cancelled)', async () => {
    const l = newLock();
    await holdBy(l);
    const j = job(l);
    const main = j.main();
    await waitFor('main to queue', () => j.state().ticket);
    const id = j.state().ticket;
    main.child.kill('SIGKILL');
    await main.exited;
    expect((await ticket(l, id)).status).toBe('queued');
    const post = await j.post();
    expect(post.code).toBe(0);
    expect(post.stdout).toContain('Left the queue');
    expect(await ticket(l, id)).toMatchObject({ status: 'released', releaseReason: 'cancelled' });
  });

  it('a job cancelled while main waits (SIGINT): main leaves the queue and fails; post has nothing left to do', async () => {
    const l = newLock();
    await holdBy(l);
    const j = job(l);
    const main = j.main();
    await waitFor('main to report its place', () => main.stdout.includes('position 1'));
    main.child.kill('SIGINT');
    const res = await main.exited;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^::error::cancelled while waiting/m);
    expect(await ticket(l, j.state().ticket)).toMatchObject({ status: 'released', releaseReason: 'cancelled' });
    const post = await j.post();
    expect(post.code).toBe(0);
    expect(post.stdout).toMatch(/had already ended \(cancelled\)/);
  });

  it('wait-timeout passes: main fails, leaving no ticket queued', async () => {
    const l = newLock();
    await holdBy(l);
    const j = job(l, { 'INPUT_WAIT-TIMEOUT': '2s' });
    const res = await j.main().exited;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^::error::gave up waiting for flxbl-io\/sf-core action-\d+ after/m);
    expect((await tickets(l)).filter((t) => t.status === 'queued')).toEqual([]);
    expect((await j.post()).code).toBe(0);
  });

  it('the lease is lost while the job runs (force-cleared): post fails the job, saying so', async () => {
    const l = newLock();
    const j = job(l, { INPUT_LEASE: '2s' });
    expect((await j.main().exited).code).toBe(0);
    const renewerPid = Number(j.state().renewerPid);
    await owner().delete(path(l));
    // The renewer learns it at its next renew, logs it and stops.
    await waitFor('the renewer to stop', () => !alive(renewerPid), 10_000);
    const post = await j.post();
    expect(post.code).toBe(1);
    expect(post.stdout).toMatch(/^::error::the lease on flxbl-io\/sf-core action-\d+ was lost while the job ran \(cleared\)/m);
  });

  it('the job\'s runner process goes away without a post step: the renewer releases the lock itself', async () => {
    const l = newLock();
    const j = job(l, { INPUT_LEASE: '30s' });
    // A stand-in for the runner's worker process: main's parent, alive until the job ends.
    const worker = `require('child_process').spawn(process.execPath, [${JSON.stringify(join(DIST, 'main.js'))}], { stdio: 'inherit' })` +
      `.on('exit', (code) => console.log('main-exit=' + code)); setInterval(() => {}, 1000);`;
    const runner = startNode('-e', [worker], j.env());
    await waitFor('main to finish', () => runner.stdout.includes('main-exit=0'));
    const id = j.outputs().ticket;
    expect((await ticket(l, id)).status).toBe('acquired');
    runner.child.kill('SIGKILL');
    await runner.exited;
    await waitFor('the renewer to release the lock', async () => (await ticket(l, id)).status === 'released', 15_000);
    expect(await ticket(l, id)).toMatchObject({ releaseReason: 'released' });
  });

  it('bad inputs fail main with an error annotation, no stack trace', async () => {
    const l = newLock();
    const missing = await job(l, { INPUT_TOKEN: '' }).main().exited;
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^::error::input 'token' is required$/m);
    const badLease = await job(l, { INPUT_LEASE: 'forever' }).main().exited;
    expect(badLease.stdout).toMatch(/^::error::input 'lease' must be a duration/m);
    const badKey = await job(l, { INPUT_TOKEN: 'not-a-key' }).main().exited;
    expect(badKey.code).toBe(1);
    expect(badKey.stdout).toMatch(/^::error::the service refused the key \(401\)/m);
    for (const r of [missing, badLease, badKey]) expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  it('the committed dist/ is what the sources build to (GitHub runs it as committed)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'qm-action-build-'));
    jobs.push(out);
    await promisify(execFile)('npm', ['run', 'build', '--workspace', '@queue-mutex/lock-action', '--', `--outdir=${out}`], { cwd: ROOT });
    const built = readdirSync(out).sort();
    expect(readdirSync(DIST).sort()).toEqual(built);
    for (const file of built) {
      if (readFileSync(join(out, file), 'utf8') !== readFileSync(join(DIST, file), 'utf8')) {
        throw new Error(`actions/lock/dist/${file} is not what its sources build to: run \`npm run build\` and commit actions/lock/dist`);
      }
    }
  });
});
