import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli, cleanEnv, CLI_BIN, closedPort, runCli, startCli, waitFor } from './support/cli-process';
import { createUser, http, startCluster, TestCluster } from './support/test-app';

/**
 * The queue-mutex CLI as pipelines run it: the built bin as a child process, against real
 * instances on a fresh database. Leases are 1-2 s so renewals and expiries happen within a test.
 */
describe('queue-mutex CLI', () => {
  let cluster: TestCluster;
  let appKey: string;
  let memberKey: string;
  let holderKey: string;
  let work: string;
  let seq = 0;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'qm-cli-'));
    await Promise.all([
      buildCli(),
      (async () => {
        cluster = await startCluster(1);
        appKey = (await createUser(cluster.url, cluster.ownerToken, { name: 'release-pipeline', role: 'application' })).apiKey;
        holderKey = (await createUser(cluster.url, cluster.ownerToken, { name: 'other-pipeline', role: 'application' })).apiKey;
        memberKey = (await createUser(cluster.url, cluster.ownerToken, { name: 'viewer', role: 'member' })).apiKey;
      })(),
    ]);
  }, 180_000);

  afterAll(async () => {
    await cluster?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => cleanEnv({ QUEUE_MUTEX_URL: cluster.url, QUEUE_MUTEX_TOKEN: appKey, ...extra });
  /** A lock of its own for each test. */
  const newLock = () => ({ repository: 'flxbl-io/sf-core', resource: `env-${++seq}` });
  const lockArgs = (l: { repository: string; resource: string }) => ['--repository', l.repository, '--resource', l.resource];
  const path = (l: { repository: string; resource: string }) => `/sfp/api/locks/${encodeURIComponent(l.repository)}/${encodeURIComponent(l.resource)}`;
  const owner = () => http(cluster.url, cluster.ownerToken);
  const tickets = async (l: { repository: string; resource: string }) => (await owner().get(path(l))).body as any[];
  const ticket = async (l: { repository: string; resource: string }, id: string) => (await owner().get(`${path(l)}/${id}`)).body;
  const holdBy = async (l: { repository: string; resource: string }, lease = 30) => {
    const res = await http(cluster.url, holderKey).post('/sfp/api/locks', { ...l, leaseDurationSeconds: lease, reason: 'deploying 41' });
    expect(res.body.status).toBe('acquired');
    return res.body;
  };
  const file = (name: string) => join(work, `${name}-${randomBytes(4).toString('hex')}`);
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

  it('runs the command holding the lock: its exit code, stdin, stdout, stderr and the ticket variables pass through', async () => {
    const l = newLock();
    const script = 'read line; echo "got $line"; echo "T=$QUEUE_MUTEX_TICKET F=$QUEUE_MUTEX_FENCING_TOKEN E=$QUEUE_MUTEX_LEASE_EXPIRES_AT"; echo on-stderr >&2; exit 7';
    const r = await runCli(['run', ...lockArgs(l), '--lease', '2s', '--', 'sh', '-c', script], env(), 'hello\n');
    expect(r.code).toBe(7);
    expect(r.stdout).toContain('got hello');
    expect(r.stderr).toContain('on-stderr');
    const [, id, fence, expires] = r.stdout.match(/T=(\S+) F=(\d+) E=(\S+)/)!;
    expect(Date.parse(expires)).not.toBeNaN();
    expect(await ticket(l, id)).toMatchObject({ status: 'released', releaseReason: 'released', fencingToken: Number(fence) });

    const ok = await runCli(['run', ...lockArgs(l), '--', 'true'], env());
    expect(ok.code).toBe(0);
    expect((await tickets(l)).filter((t) => t.status !== 'released')).toEqual([]);
  });

  it('two or more CLIs on one lock never overlap and run in the order they queued', async () => {
    const l = newLock();
    const log = file('fifo');
    const step = (name: string, seconds: number) => [
      'run', ...lockArgs(l), '--lease', '2s', '--',
      'sh', '-c', `echo "start ${name} $QUEUE_MUTEX_FENCING_TOKEN" >> ${log}; sleep ${seconds}; echo "end ${name}" >> ${log}`,
    ];
    const a = startCli(step('a', 2), env());
    await waitFor('a to hold the lock', async () => (await tickets(l)).some((t) => t.status === 'acquired'));
    const b = startCli(step('b', 0.3), env());
    await waitFor('b to queue', async () => (await tickets(l)).length >= 2);
    const c = startCli(step('c', 0.3), env());
    const results = await Promise.all([a.exited, b.exited, c.exited]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    const lines = read(log).trim().split('\n');
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    const fences = lines.filter((line) => line.startsWith('start')).map((line) => Number(line.split(' ')[2]));
    expect(fences[1]).toBeGreaterThan(fences[0]);
    expect(fences[2]).toBeGreaterThan(fences[1]);
    // b waited, and said where it stood while waiting.
    expect(b.stderr).toMatch(/position 1/);
  });

  it('a command running three times its lease keeps the lock: renewed, never expired, nobody else granted meanwhile', async () => {
    const l = newLock();
    const started = Date.now();
    const r = startCli(['run', ...lockArgs(l), '--lease', '1s', '--', 'sleep', '3.5'], env());
    const held = await waitFor('the CLI to hold the lock', async () => (await tickets(l)).find((t) => t.status === 'acquired'));
    const waiter = (await http(cluster.url, holderKey).post('/sfp/api/locks', { ...l, leaseDurationSeconds: 5 })).body;
    let done = false;
    void r.exited.then(() => (done = true));
    while (!done) {
      const now = await tickets(l);
      if (now.find((t) => t.status === 'acquired')?.id !== held.id) {
        // Only the command's end passes the lock on: the CLI released it (not an expiry) and is
        // now exiting, never before the command's 3.5 s were up.
        expect(now.find((t) => t.id === held.id)).toMatchObject({ status: 'released', releaseReason: 'released' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(3_500);
        break;
      }
      await new Promise((res) => setTimeout(res, 150));
    }
    expect((await r.exited).code).toBe(0);
    expect(await ticket(l, held.id)).toMatchObject({ status: 'released', releaseReason: 'released' });
    expect((await ticket(l, waiter.id)).status).toBe('acquired');
  });

  it('an owner force-clears the lock: the command gets SIGTERM and the CLI exits 76', async () => {
    const l = newLock();
    const marker = file('term');
    const ready = file('ready');
    const script = `trap 'echo got-term > ${marker}; exit 0' TERM; touch ${ready}; while :; do sleep 0.1; done`;
    const r = startCli(['run', ...lockArgs(l), '--lease', '2s', '--', 'sh', '-c', script], env());
    await waitFor('the command to start', () => existsSync(ready));
    expect((await owner().delete(path(l))).status).toBe(200);
    const res = await r.exited;
    expect(res.code).toBe(76);
    expect(read(marker)).toContain('got-term');
    expect(res.stderr).toMatch(/lease lost.*cleared/);
  });

  it('a command that ignores SIGTERM is killed after --kill-grace when the lease is lost', async () => {
    const l = newLock();
    const ready = file('ready');
    // `trap "" TERM` is inherited by the loop's sleeps too: only SIGKILL ends this group.
    const script = `trap '' TERM; touch ${ready}; while :; do sleep 0.1; done`;
    const r = startCli(['run', ...lockArgs(l), '--lease', '2s', '--kill-grace', '1s', '--', 'sh', '-c', script], env());
    await waitFor('the command to start', () => existsSync(ready));
    await owner().delete(path(l));
    const res = await r.exited;
    expect(res.code).toBe(76);
    expect(res.stderr).toMatch(/still running after 1s: SIGKILL/);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s while holding: passed to the command, waited for, released, exit %d', async (signal, code) => {
    const l = newLock();
    const marker = file('sig');
    const ready = file('ready');
    const script = `trap 'echo got-${signal} > ${marker}; exit 3' ${signal.slice(3)}; touch ${ready}; while :; do sleep 0.1; done`;
    const r = startCli(['run', ...lockArgs(l), '--lease', '2s', '--', 'sh', '-c', script], env());
    await waitFor('the command to start', () => existsSync(ready));
    const id = (await tickets(l)).find((t) => t.status === 'acquired').id;
    r.child.kill(signal);
    const res = await r.exited;
    expect(res.code).toBe(code);
    expect(read(marker)).toContain(`got-${signal}`);
    expect(await ticket(l, id)).toMatchObject({ status: 'released', releaseReason: 'released' });
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s while waiting: leaves the queue at once (cancelled), the command never runs, exit %d', async (signal, code) => {
    const l = newLock();
    const holder = await holdBy(l);
    const marker = file('ran');
    const r = startCli(['run', ...lockArgs(l), '--', 'sh', '-c', `echo ran > ${marker}`], env());
    const queued = await waitFor('the CLI to queue', async () => (await tickets(l)).find((t) => t.status === 'queued'));
    await waitFor('the CLI to report its place', () => r.stderr.includes('position 1'));
    r.child.kill(signal);
    const res = await r.exited;
    expect(res.code).toBe(code);
    expect(existsSync(marker)).toBe(false);
    expect(await ticket(l, queued.id)).toMatchObject({ status: 'released', releaseReason: 'cancelled' });
    expect((await ticket(l, holder.id)).status).toBe('acquired');
  });

  it('tells while waiting where it stands: position, who holds the lock, since when and why', async () => {
    const l = newLock();
    await holdBy(l);
    const r = await runCli(['run', ...lockArgs(l), '--wait-timeout', '2s', '--', 'true'], env());
    expect(r.stderr).toMatch(/waiting .*position 1 of 1, held by other-pipeline for \S+ \(deploying 41\)/);
  });

  it('--wait-timeout passes: exit 75, the command never ran, no ticket left in the queue', async () => {
    const l = newLock();
    await holdBy(l);
    const marker = file('ran');
    const r = await runCli(['run', ...lockArgs(l), '--wait-timeout', '2s', '--', 'sh', '-c', `echo ran > ${marker}`], env());
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/gave up waiting/);
    expect(existsSync(marker)).toBe(false);
    expect((await tickets(l)).filter((t) => t.status === 'queued')).toEqual([]);
  });

  it('a server that cannot be reached: exit 69 with one clear line, no stack trace', async () => {
    const port = await closedPort();
    const r = await runCli(['run', ...lockArgs(newLock()), '--retry-timeout', '1s', '--', 'true'], env({ QUEUE_MUTEX_URL: `http://127.0.0.1:${port}` }));
    expect(r.code).toBe(69);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^queue-mutex: cannot reach the server at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/)]);
    expect(r.stdout).toBe('');
  });

  it('a key the server refuses: exit 77 with its message (401 bad key, 403 member)', async () => {
    const bad = await runCli(['run', ...lockArgs(newLock()), '--', 'true'], env({ QUEUE_MUTEX_TOKEN: 'not-a-key' }));
    expect(bad.code).toBe(77);
    expect(bad.stderr).toMatch(/401.*invalid/);
    const member = await runCli(['list', ...lockArgs(newLock())], env({ QUEUE_MUTEX_TOKEN: memberKey }));
    expect(member.code).toBe(77);
    expect(member.stderr).toMatch(/403.*Requires role: owner, application/);
  });

  it.each([
    [['run', '--repository', 'r', '--', 'true'], /--resource is required/],
    [['run', '--repository', 'r', '--resource', 'x'], /no command to run/],
    [['run', '--repository', 'r', '--resource', 'x', 'deploy.sh'], /put the command after '--'/],
    [['run', '--repository', 'r', '--resource', 'x', '--lease', 'soon', '--', 'true'], /--lease 'soon' is not a duration/],
    [['run', '--bogus', '--', 'true'], /Unknown option '--bogus'/],
    [['launch'], /unknown command 'launch'/],
    [['unlock', '--repository', 'r', '--resource', 'x'], /--ticket is required/],
    [['lock', '--repository', 'r', '--resource', 'x', '--meta', 'novalue'], /must be key=value/],
    [['run', '--repository', 'r', '--resource', 'x', '--pool', 'p', '--', 'true'], /give --resource or --pool, not both/],
    [['run', '--repository', 'r', '--resource', 'x', '--count', '2', '--', 'true'], /--count goes with --pool/],
    [['run', '--repository', 'r', '--pool', 'p', '--count', 'two', '--', 'true'], /--count 'two' must be a whole number/],
    [['run', '--repository', 'r', '--resource', 'x', '--resource', 'x', '--', 'true'], /names the same resource twice/],
  ])('bad usage %j: exit 64 with a message', async (args, message) => {
    const r = await runCli(args, env());
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('holds several resources at once (repeated --resource), and members of a pool (--pool --count)', async () => {
    const [a, b] = [newLock(), newLock()];
    const show = 'echo "R=$QUEUE_MUTEX_RESOURCES T=$QUEUE_MUTEX_FENCING_TOKENS"';
    // b is held: the set waits for it, then holds both.
    const held = await holdBy(b, 2);
    const set = await runCli(['run', '--repository', a.repository, '--resource', a.resource, '--resource', b.resource, '--lease', '2s', '--', 'sh', '-c', show], env());
    expect(set.code).toBe(0);
    expect(set.stdout).toContain(`R=${JSON.stringify([a.resource, b.resource])}`);
    expect(set.stderr).toContain(`acquired ${a.repository} ${a.resource}+${b.resource}`);
    expect((await ticket(b, held.id)).releaseReason).toBe('expired');
    expect((await tickets(a)).filter((t) => t.status !== 'released')).toEqual([]);

    const pool = `pool-${++seq}`;
    const members = [newLock().resource, newLock().resource, newLock().resource];
    expect((await owner().put(`/sfp/api/pools/${encodeURIComponent(a.repository)}/${pool}`, { resources: members })).status).toBe(200);
    const got = await runCli(['run', '--repository', a.repository, '--pool', pool, '--count', '2', '--', 'sh', '-c', show], env());
    expect(got.code).toBe(0);
    const resources = JSON.parse(got.stdout.match(/R=(\S+)/)![1]) as string[];
    expect(resources).toHaveLength(2);
    for (const r of resources) expect(members).toContain(r);
    expect((await owner().get(`/sfp/api/pools/${encodeURIComponent(a.repository)}/${pool}`)).body.held).toBe(0);
  });

  it('no server given: exit 64 naming QUEUE_MUTEX_URL; --help exits 0', async () => {
    const r = await runCli(['list', '--repository', 'r', '--resource', 'x'], cleanEnv({ QUEUE_MUTEX_TOKEN: appKey }));
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/QUEUE_MUTEX_URL/);
    const help = await runCli(['run', '--help'], cleanEnv());
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: queue-mutex run/);
  });

  it('stores where the ticket came from: CI metadata of a GitHub-like environment, plus --meta', async () => {
    const l = newLock();
    const github = {
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'flxbl-io/sf-core',
      GITHUB_RUN_ID: '4242',
      GITHUB_SHA: '0123456789abcdef',
      GITHUB_REF_NAME: 'main',
      GITHUB_WORKFLOW: 'release',
      GITHUB_JOB: 'deploy-uat',
    };
    const r = await runCli(['run', ...lockArgs(l), '--meta', 'change=CHG-7', '--', 'sh', '-c', 'echo $QUEUE_MUTEX_TICKET'], env(github));
    expect(r.code).toBe(0);
    const body = await ticket(l, r.stdout.trim());
    expect(body.metadata).toEqual({
      ci: 'github-actions',
      ciUrl: 'https://github.com/flxbl-io/sf-core/actions/runs/4242',
      commit: '0123456789abcdef',
      ref: 'main',
      job: 'release / deploy-uat',
      change: 'CHG-7',
    });
  });

  it('lock, status, renew, list and unlock by hand', async () => {
    const l = newLock();
    const first = await runCli(['lock', ...lockArgs(l), '--lease', '30s', '--reason', 'by hand', '--json'], env());
    expect(first.code).toBe(0);
    const held = JSON.parse(first.stdout);
    expect(held).toMatchObject({ status: 'acquired', reason: 'by hand', leaseDurationSeconds: 30 });

    const second = await runCli(['lock', ...lockArgs(l), '--lease', '30s'], env());
    expect(second.code).toBe(0);
    const waitingId = second.stdout.trim();
    expect(waitingId).toMatch(/^[0-9a-f-]{36}$/);

    const table = await runCli(['list', ...lockArgs(l)], env());
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^POS\s+STATE\s+TICKET/);
    expect(rows[1]).toMatch(new RegExp(`^held\\s+acquired\\s+${held.id}\\s+\\d+\\s+release-pipeline\\s+\\S+\\s+by hand`));
    expect(rows[2]).toMatch(new RegExp(`^1\\s+queued\\s+${waitingId}`));
    expect(JSON.parse((await runCli(['list', ...lockArgs(l), '--json'], env())).stdout)).toHaveLength(2);

    const status = await runCli(['status', ...lockArgs(l), '--ticket', waitingId], env());
    expect(status.stdout).toMatch(/queued; position 1/);
    const renewed = await runCli(['renew', ...lockArgs(l), '--ticket', held.id, '--lease', '60s', '--json'], env());
    expect(JSON.parse(renewed.stdout)).toMatchObject({ id: held.id, leaseDurationSeconds: 60 });

    expect((await runCli(['unlock', ...lockArgs(l), '--ticket', held.id], env())).code).toBe(0);
    expect((await ticket(l, waitingId)).status).toBe('acquired');
    // Its lease is gone: unlock and renew say so with 76.
    const again = await runCli(['unlock', ...lockArgs(l), '--ticket', held.id], env());
    expect(again.code).toBe(76);
    expect(again.stderr).toMatch(/already ended \(released\)/);
    expect((await runCli(['renew', ...lockArgs(l), '--ticket', held.id], env())).code).toBe(76);
    expect((await runCli(['unlock', ...lockArgs(l), '--ticket', waitingId], env())).code).toBe(0);
  });

  it('lock --wait waits its turn, telling its position, then prints the ticket', async () => {
    const l = newLock();
    const holder = await holdBy(l);
    const r = startCli(['lock', ...lockArgs(l), '--wait', '--wait-timeout', '30s', '--lease', '10s'], env());
    await waitFor('the wait to be reported', () => r.stderr.includes('position 1 of 1'));
    await http(cluster.url, holderKey).delete(`${path(l)}/${holder.id}`);
    const res = await r.exited;
    expect(res.code).toBe(0);
    expect((await ticket(l, res.stdout.trim())).status).toBe('acquired');
  });

  it('started as a background job of a script (SIGINT ignored there), SIGINT still reaches it and releases the lock', async () => {
    const l = newLock();
    const args = ['run', ...lockArgs(l), '--lease', '2s', '--', 'sleep', '30'].map((a) => `'${a}'`).join(' ');
    const sh = spawn('bash', ['-c', `'${process.execPath}' '${CLI_BIN}' ${args} & echo $!; wait $!; echo "exit=$?"`], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sh.stdout.on('data', (d) => (out += String(d)));
    const closed = new Promise((resolve) => sh.on('close', resolve));
    const pid = Number(await waitFor('the job pid', () => out.match(/^(\d+)\n/)?.[1]));
    const held = await waitFor('the lock to be held', async () => (await tickets(l)).find((t) => t.status === 'acquired'));
    process.kill(pid, 'SIGINT');
    await closed;
    expect(out).toContain('exit=130');
    expect(await ticket(l, held.id)).toMatchObject({ status: 'released', releaseReason: 'released' });
  });
});
