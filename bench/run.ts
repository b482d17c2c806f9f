/**
 * `npm run bench`: the queue-mutex service against etcd's v3 lock (HTTP gateway), side by side,
 * on this machine, in one run. See bench/README.md for what each number means.
 *
 * Env: BENCH_SECONDS (measured seconds per workload and system, default 8), BENCH_WARMUP_SECONDS
 * (warm-up before each round, 1), BENCH_PREWARM_SECONDS (untimed run of each workload and system
 * before its first round, 3), BENCH_ROUNDS (2: the measured time is split into rounds run in
 * A-B-B-A order so that load from other processes hits both systems alike), BENCH_CLIENTS (16),
 * BENCH_EXPIRY_REPS (12), BENCH_WORKLOADS (uncontended,contended,state,wal,expiry), BENCH_WAL_CYCLES
 * (2000), BENCH_VARIANT_REF (A/B against a build of that commit), BENCH_ETCD=0 (skip etcd), BENCH_ETCD_PER_CYCLE=0 (skip the
 * lease-per-cycle etcd variant), BENCH_DIAG=1 (diagnostics: Redis commands and SQL calls per
 * cycle, framework floor, auth + one query, PostgreSQL alone), BENCH_PROFILE=1 (V8 CPU profile of
 * the service per workload), BENCH_BUILD=auto|always|never|head, BENCH_POOL_SIZE,
 * BENCH_PG_ADMIN_URL, BENCH_REDIS_URL, BENCH_ETCD_BIN.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { diffFunctionStats, pgDirectUncontended, pgFunctionStats, PgFunctionStat, redisTraffic, RedisTraffic } from './diag';
import { EtcdHandle, findEtcd, startEtcd } from './etcd';
import { profileMarkdown, summarizeProfile } from './profile';
import { checkSafety, LoadOptions, LoadResult, mergeResults, SafetyVerdict } from './runner';
import { buildRef, ROOT, ServiceHandle, startService } from './service';
import { childrenCpuMs, cpuMsOfCommand, fmt, fmtInt, machineBusyMs, parentPid, processCpuMs, reapedChildrenCpuMs, summary } from './stats';
import { walPerCycle, WalPerCycle } from './wal';
import { ContendedResult, EtcdWorkloads, LatenessResult, ServiceWorkloads } from './workloads';

const num = (name: string, def: number) => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? def : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};

const SECONDS = num('BENCH_SECONDS', 8);
const WARMUP = num('BENCH_WARMUP_SECONDS', 1);
/** Untimed run of each workload before its first round (JIT, connection pools, plpgsql caches). */
const PREWARM = num('BENCH_PREWARM_SECONDS', 3);
const ROUNDS = Math.max(1, Math.round(num('BENCH_ROUNDS', 2)));
const CLIENTS = Math.max(1, Math.round(num('BENCH_CLIENTS', 16)));
const EXPIRY_REPS = Math.max(1, Math.round(num('BENCH_EXPIRY_REPS', 12)));
const WITH_ETCD = process.env.BENCH_ETCD !== '0';
const DIAG = process.env.BENCH_DIAG === '1';
const PROFILE = process.env.BENCH_PROFILE === '1';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RESULTS = path.join(__dirname, 'results');
const WORKLOADS = new Set((process.env.BENCH_WORKLOADS ?? 'uncontended,contended,state,wal,expiry').split(',').map((w) => w.trim()));
/** Uncontended cycles the WAL meter counts over (after a warm-up that creates the locks). */
const WAL_CYCLES = Number(process.env.BENCH_WAL_CYCLES ?? 2000);
/** Experiment: a second service instance with ablations (bench/ablate-preload.js) and/or extra env. */
const VARIANT_ABLATE = process.env.BENCH_VARIANT_ABLATE ?? '';
const VARIANT_ENV: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_VARIANT_ENV ?? '')
    .split(',')
    .map((kv) => kv.trim())
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
/** A/B: a second service built from another commit (e.g. main before a change), run interleaved with this one. */
const VARIANT_REF = process.env.BENCH_VARIANT_REF ?? '';
const VARIANT = VARIANT_ABLATE !== '' || Object.keys(VARIANT_ENV).length > 0 || VARIANT_REF !== '';
const VARIANT_NAME = [VARIANT_REF && `build of ${VARIANT_REF}`, VARIANT_ABLATE && `without ${VARIANT_ABLATE}`, ...Object.entries(VARIANT_ENV).map(([k, v]) => `${k}=${v}`)]
  .filter(Boolean)
  .join(', ');

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

/** CPU ms used during a workload, by whom. */
interface Cpu {
  service: number;
  etcd: number;
  /** Backends of the bench database. */
  postgres: number;
  /** redis-server (shared with anyone else using this Redis). */
  redis: number;
  bench: number;
  /** Everything else on the machine (other engineers' tests ...). */
  others: number;
  wallMs: number;
}

interface Measured<R extends LoadResult = LoadResult> {
  result: R;
  /** Cycles/s of each round, when merged from rounds (shows how noisy the machine was). */
  roundRates?: number[];
  cpu: Cpu;
  profiles: string[];
  /** BENCH_DIAG: SQL functions called during the workload. */
  sql?: { commits: number; functions: PgFunctionStat[] };
}

type Runner<R extends LoadResult> = (o: LoadOptions) => Promise<R>;

async function main(): Promise<void> {
  fs.mkdirSync(RESULTS, { recursive: true });
  const started = new Date();
  const loadStart = os.loadavg();
  log(`${os.cpus().length} CPUs, load average ${loadStart.map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  log(`${CLIENTS} clients; per workload and system ${ROUNDS} round(s) of ${WARMUP} s warm-up + ${fmt(SECONDS / ROUNDS, 1)} s measured (${SECONDS} s in all); ${EXPIRY_REPS} expiry samples`);

  const cleanups: (() => Promise<void>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of cleanups.reverse()) await c().catch((err) => log(`cleanup: ${(err as Error).message}`));
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Whatever goes wrong, still stop the children and remove the database and Redis keys.
  const onCrash = (err: unknown) => {
    log(`unexpected error: ${err instanceof Error ? err.stack : String(err)}`);
    void cleanup().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  try {
    const service = await startService(RESULTS, log);
    cleanups.push(() => service.stop());
    log(`service: ${service.note}, ${service.url} (pid ${service.pid}, database ${service.databaseName}, Redis prefix ${service.redisPrefix})`);

    let etcd: EtcdHandle | undefined;
    let etcdNote = '';
    if (WITH_ETCD) {
      const bin = findEtcd();
      if (!bin) {
        etcdNote = 'etcd is not installed (apt-get install -y etcd-server): the etcd column is skipped.';
        log(etcdNote);
      } else {
        try {
          etcd = await startEtcd(bin, log);
          cleanups.push(() => etcd!.stop());
        } catch (err) {
          etcdNote = `etcd could not start, its column is skipped: ${(err as Error).message}`;
          log(etcdNote);
        }
      }
    } else {
      etcdNote = 'BENCH_ETCD=0: etcd column skipped.';
    }

    let variant: ServiceHandle | undefined;
    if (VARIANT) {
      variant = await startService(RESULTS, log, {
        preloads: VARIANT_ABLATE ? [path.join(__dirname, 'ablate-preload.js')] : [],
        env: { ...VARIANT_ENV, ...(VARIANT_ABLATE ? { BENCH_ABLATE: VARIANT_ABLATE } : {}) },
        entry: VARIANT_REF ? buildRef(VARIANT_REF, log) : undefined,
      });
      cleanups.push(() => variant!.stop());
      log(`variant service (${VARIANT_NAME}): ${variant.url} (pid ${variant.pid})`);
    }
    const vsvc = variant ? new ServiceWorkloads(variant.client, 'bench-org/queue-mutex-bench') : undefined;
    const vmeasure = variant ? measurer(variant, etcd) : undefined;

    const tag = `r${process.pid}`;
    const svc = new ServiceWorkloads(service.client, 'bench-org/queue-mutex-bench');
    const et = etcd ? new EtcdWorkloads(etcd.client, tag) : undefined;
    const measure = measurer(service, etcd);
    const perRound: LoadOptions = { clients: CLIENTS, warmupMs: WARMUP * 1000, measureMs: (SECONDS * 1000) / ROUNDS };

    /** Runs each entry ROUNDS times, A-B-B-A order, and merges each entry's rounds. */
    const sideBySide = async (entries: { label: string; run: Runner<LoadResult>; profile?: boolean; variant?: boolean }[]) => {
      const parts = entries.map(() => [] as Measured[]);
      if (PREWARM > 0) {
        for (const e of entries) {
          log(`pre-warming ${e.label} (${PREWARM} s, not measured) ...`);
          await e.run({ clients: CLIENTS, warmupMs: PREWARM * 1000, measureMs: 0 });
        }
      }
      for (let round = 0; round < ROUNDS; round++) {
        const order = entries.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) {
          const e = entries[i];
          const m = e.variant ? vmeasure! : measure;
          parts[i].push(await m(`${e.label}${ROUNDS > 1 ? ` (round ${round + 1}/${ROUNDS})` : ''}`, () => e.run(perRound), PROFILE && e.profile === true && round === 0));
        }
      }
      return parts.map(mergeMeasured);
    };

    const variantEntry = (label: string, run: (w: ServiceWorkloads, o: LoadOptions) => Promise<LoadResult>) =>
      vsvc ? [{ label: `${label} [${VARIANT_NAME}]`, run: (o: LoadOptions) => run(vsvc, o), variant: true, profile: true }] : [];
    const none = <R extends LoadResult>(label: string): Measured<R> => ({
      result: { label, clients: CLIENTS, cycles: 0, totalCycles: 0, seconds: 0, perSecond: NaN, p50: NaN, p99: NaN, max: NaN, errors: 0, firstErrors: [], steps: {}, drained: 0, samples: [], stepSamples: {}, grants: [] } as unknown as R,
      cpu: { service: 0, etcd: 0, postgres: 0, redis: 0, bench: 0, others: 0, wallMs: 1 },
      profiles: [],
    });

    // Uncontended: 16 clients, one lock each.
    let sUnc: Measured = none('service uncontended (skipped)');
    let eUnc: Measured | undefined;
    let eUncPer: Measured | undefined;
    let vUnc: Measured | undefined;
    if (WORKLOADS.has('uncontended')) {
      const withPer = et && process.env.BENCH_ETCD_PER_CYCLE !== '0';
      const unc = await sideBySide([
        { label: 'service uncontended', run: (o) => svc.uncontended(o, tag), profile: true },
        ...variantEntry('service uncontended', (w, o) => w.uncontended(o, tag)),
        ...(et ? [{ label: 'etcd uncontended (session lease)', run: (o: LoadOptions) => et.uncontended(o, 'reuse') }] : []),
        ...(withPer ? [{ label: 'etcd uncontended (lease per cycle)', run: (o: LoadOptions) => et!.uncontended(o, 'per-cycle') }] : []),
      ]);
      sUnc = unc.shift()!;
      if (vsvc) vUnc = unc.shift();
      if (et) eUnc = unc.shift();
      if (withPer) eUncPer = unc.shift();
    }

    // Contended: 16 clients, one lock.
    let sCon: Measured<ContendedResult> = none('service contended (skipped)');
    let eCon: Measured<ContendedResult> | undefined;
    let vCon: Measured<ContendedResult> | undefined;
    if (WORKLOADS.has('contended')) {
      const con = (await sideBySide([
        { label: 'service contended', run: (o) => svc.contended(o, tag), profile: true },
        ...variantEntry('service contended', (w, o) => w.contended(o, `${tag}v`)),
        ...(et ? [{ label: 'etcd contended', run: (o: LoadOptions) => et.contended(o) }] : []),
      ])) as unknown as Measured<ContendedResult>[];
      sCon = con.shift()!;
      if (vsvc) vCon = con.shift();
      if (et) eCon = con.shift();
    }
    // Dapr state: save + get of one key per client, against etcd's put + range.
    let sState: Measured | undefined;
    let eState: Measured | undefined;
    let vState: Measured | undefined;
    if (WORKLOADS.has('state')) {
      const st = await sideBySide([
        { label: 'service state save+get', run: (o) => svc.stateSaveGet(o, tag), profile: true },
        ...variantEntry('service state save+get', (w, o) => w.stateSaveGet(o, `${tag}v`)),
        ...(et ? [{ label: 'etcd put+range', run: (o: LoadOptions) => et.stateSaveGet(o) }] : []),
      ]);
      sState = st.shift();
      if (vsvc) vState = st.shift();
      if (et) eState = st.shift();
    }

    const sSafety: SafetyVerdict = WORKLOADS.has('contended') ? checkSafety(sCon.result.grants) : { ok: true, grants: 0, overlaps: 0, nonIncreasingTokens: 0, detail: ['contended workload skipped'], handoff: { n: 0, p50: NaN, p99: NaN } };
    const eSafety = eCon ? checkSafety(eCon.result.grants) : undefined;
    log(`mutual exclusion (service): ${verdictText(sSafety)}`);
    if (eSafety) log(`mutual exclusion (etcd): ${verdictText(eSafety)}`);
    if (vCon) log(`mutual exclusion (variant): ${verdictText(checkSafety(vCon.result.grants))}`);

    // WAL per uncontended cycle, each build alone on the server.
    let sWal: WalPerCycle | undefined;
    let vWal: WalPerCycle | undefined;
    if (WORKLOADS.has('wal')) {
      const meter = async (name: string, w: ServiceWorkloads, handle: ServiceHandle, t: string) => {
        log(`counting the WAL of ${fmtInt(WAL_CYCLES)} uncontended cycles (${name}) ...`);
        const warmUp = () => w.cycles(Math.max(CLIENTS * 8, WAL_CYCLES / 4), CLIENTS, t); // the locks exist, pages touched
        const wal = await walPerCycle(handle.databaseUrl, WAL_CYCLES, warmUp, () => w.cycles(WAL_CYCLES, CLIENTS, t));
        log(`  ${name}: ${fmt(wal.bytesPerCycle, 0)} bytes, ${fmt(wal.recordsPerCycle, 2)} records of WAL per cycle (${wal.note})`);
        return wal;
      };
      sWal = await meter('as built', svc, service, tag);
      if (vsvc) vWal = await meter(VARIANT_NAME, vsvc, variant!, `${tag}v`);
    }

    // Expiry lateness: both systems at once (each is one idle waiter at a time, seconds apart).
    let sLate: LatenessResult = { samples: [], errors: [], note: 'skipped' };
    let eLate: LatenessResult | undefined;
    if (WORKLOADS.has('expiry')) {
      log(`measuring expiry lateness (${EXPIRY_REPS} sequential samples per system, both systems concurrently) ...`);
      [sLate, eLate] = await Promise.all([svc.expiryLateness(EXPIRY_REPS, tag), et ? et.expiryLateness(EXPIRY_REPS) : Promise.resolve(undefined)]);
      for (const e of sLate.errors.slice(0, 3)) log(`  service lateness error: ${e}`);
      for (const e of eLate?.errors.slice(0, 3) ?? []) log(`  etcd lateness error: ${e}`);
    }

    // Diagnostics
    const diag: Measured[] = [];
    const traffic: { label: string; traffic: RedisTraffic }[] = [];
    if (DIAG) {
      const short: LoadOptions = { clients: CLIENTS, warmupMs: 500, measureMs: 3_000 };
      for (const [label, work] of [
        ['service uncontended', () => svc.uncontended(short, `${tag}m`)],
        ['service contended', () => svc.contended(short, `${tag}m`)],
      ] as const) {
        log(`diag: counting Redis commands (MONITOR) during ${label} ...`);
        const t = await redisTraffic(REDIS_URL, service.redisPrefix, work);
        traffic.push({ label, traffic: t.traffic });
      }
      const o: LoadOptions = { clients: CLIENTS, warmupMs: WARMUP * 1000, measureMs: (SECONDS * 1000) / ROUNDS };
      diag.push(await measure('diag: framework floor', () => svc.framework(o), PROFILE));
      diag.push(await measure('diag: auth + one SQL read', () => svc.authedRead(o, tag), PROFILE));
      diag.push(await measure('diag: PostgreSQL direct', () => pgDirectUncontended(service.databaseUrl, o, tag)));
    }

    const loadEnd = os.loadavg();
    const md = report({ started, loadStart, loadEnd, serviceNote: service.note, etcdVersion: etcd?.version, etcdNote, sUnc, eUnc, eUncPer, sCon, eCon, sState, eState, vState, sWal, vWal, sSafety, eSafety, sLate, eLate, diag, traffic, vUnc, vCon });
    let profileMd = '';
    for (const m of [sUnc, sCon, ...(sState ? [sState] : []), ...(vUnc ? [vUnc] : []), ...(vCon ? [vCon] : []), ...(vState ? [vState] : []), ...diag]) {
      for (const file of m.profiles) {
        profileMd += profileMarkdown(`${m.result.label} (${path.relative(ROOT, file)})`, summarizeProfile(file, 30), profiledCycles(m)) + '\n';
      }
    }
    process.stdout.write(`\n${md}\n`);
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
    fs.writeFileSync(path.join(RESULTS, `run-${stamp}.md`), md + (profileMd ? `\n${profileMd}` : ''));
    if (profileMd) {
      fs.writeFileSync(path.join(RESULTS, 'latest-profile.md'), profileMd);
      process.stdout.write(`${profileMd}\n`);
    }
    const slim = (m?: Measured) => m && { ...m, result: { ...m.result, samples: undefined, stepSamples: undefined, grants: (m.result as Partial<ContendedResult>).grants?.length } };
    fs.writeFileSync(
      path.join(RESULTS, `run-${stamp}.json`),
      JSON.stringify({ started, loadStart, loadEnd, variant: VARIANT_NAME || undefined, vUnc: slim(vUnc), vCon: slim(vCon), vState: slim(vState), sUnc: slim(sUnc), eUnc: slim(eUnc), eUncPer: slim(eUncPer), sCon: slim(sCon), eCon: slim(eCon), sState: slim(sState), eState: slim(eState), sWal, vWal, sSafety, eSafety, sLate, eLate, diag: diag.map(slim), traffic }, null, 1),
    );
    log(`wrote ${path.relative(ROOT, path.join(RESULTS, 'latest.md'))} and run-${stamp}.{md,json}`);
    if (!sSafety.ok || (eSafety && !eSafety.ok)) process.exitCode = 1;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
}

/** Cycles completed during the profiled (first) round. */
function profiledCycles(m: Measured & { roundCycles?: number[] }): number {
  return m.roundCycles?.[0] ?? m.result.totalCycles;
}

function measurer(service: ServiceHandle, etcd: EtcdHandle | undefined) {
  return async <R extends LoadResult>(name: string, fn: () => Promise<R>, profile = false): Promise<Measured<R>> => {
    log(`running ${name} ...`);
    service.assertAlive();
    const pgCpu = async () => {
      const m = new Map<number, number>();
      for (const p of await service.backendPids().catch(() => [] as number[])) m.set(p, processCpuMs(p));
      return m;
    };
    const pgBefore = await pgCpu();
    // Backends that exit during the workload (the pool closes idle connections) are counted
    // through the postmaster's reaped-children CPU.
    const postmaster = [...pgBefore.keys()].map(parentPid).find((p) => p !== undefined);
    const reapedBefore = reapedChildrenCpuMs(postmaster);
    // Every PostgreSQL process now, whichever database it serves: one that exits during the
    // workload (the other A/B service's pool closing its idle connections) is reaped with its whole
    // life's CPU, of which only what it spends from now on belongs to this workload.
    const childrenBefore = childrenCpuMs(postmaster);
    const sqlBefore = DIAG ? await pgFunctionStats(service.databaseUrl).catch(() => undefined) : undefined;
    if (profile) await service.toggleProfile();
    const before = {
      machine: machineBusyMs(),
      service: processCpuMs(service.pid),
      etcd: etcd ? processCpuMs(etcd.pid) : 0,
      redis: cpuMsOfCommand('redis-server'),
      bench: process.cpuUsage(),
      t: performance.now(),
    };
    const result = await fn();
    const wallMs = performance.now() - before.t;
    const machine = machineBusyMs() - before.machine;
    const serviceMs = processCpuMs(service.pid) - before.service;
    const etcdMs = etcd ? processCpuMs(etcd.pid) - before.etcd : 0;
    const redisMs = cpuMsOfCommand('redis-server') - before.redis;
    const benchUsage = process.cpuUsage(before.bench);
    const benchMs = (benchUsage.user + benchUsage.system) / 1000;
    const profiles: string[] = [];
    if (profile) {
      const file = await service.toggleProfile();
      if (file) profiles.push(file);
    }
    // Backends alive at the end (those opened during the workload count from zero), plus those that
    // exited meanwhile (from the moment the workload started: their CPU before it is taken off).
    let pgMs = 0;
    const pgAfter = await pgCpu();
    for (const [pid, ms] of pgAfter) if (Number.isFinite(ms)) pgMs += ms - (pgBefore.get(pid) ?? 0);
    const reaped = reapedChildrenCpuMs(postmaster) - reapedBefore;
    if (Number.isFinite(reaped) && reaped > 0) {
      const childrenAfter = childrenCpuMs(postmaster);
      const exitedBefore = [...childrenBefore].filter(([pid]) => !childrenAfter.has(pid)).reduce((sum, [, ms]) => sum + (Number.isFinite(ms) ? ms : 0), 0);
      pgMs += Math.max(0, reaped - exitedBefore);
    }
    service.assertAlive();
    const finite = (x: number) => (Number.isFinite(x) ? x : 0);
    const cpu: Cpu = {
      service: finite(serviceMs),
      etcd: finite(etcdMs),
      postgres: finite(pgMs),
      redis: finite(redisMs),
      bench: finite(benchMs),
      others: Math.max(0, finite(machine) - finite(serviceMs) - finite(etcdMs) - finite(pgMs) - finite(redisMs) - finite(benchMs)),
      wallMs,
    };
    let sql: Measured['sql'];
    if (sqlBefore) {
      const after = await pgFunctionStats(service.databaseUrl).catch(() => undefined);
      if (after) sql = diffFunctionStats(sqlBefore, after);
    }
    log(
      `  ${name}: ${fmtInt(result.cycles)} cycles, ${fmt(result.perSecond, 0)}/s, p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, errors ${result.errors}` +
        `${result.aborted ? ` (ABORTED: ${result.aborted})` : ''}; CPU % of a core: service ${pctOf(cpu.service, wallMs)}, etcd ${pctOf(cpu.etcd, wallMs)}, postgres ${pctOf(cpu.postgres, wallMs)}, redis ${pctOf(cpu.redis, wallMs)}, bench ${pctOf(cpu.bench, wallMs)}, others ${pctOf(cpu.others, wallMs)}`,
    );
    for (const e of result.firstErrors) log(`    error: ${e}`);
    return { result, cpu, profiles, sql };
  };
}

const pctOf = (ms: number, wallMs: number) => `${fmt((100 * ms) / wallMs, 0)}%`;

function mergeMeasured<R extends LoadResult>(parts: Measured<R>[]): Measured<R> & { roundCycles: number[]; roundRates: number[] } {
  const cpu = { service: 0, etcd: 0, postgres: 0, redis: 0, bench: 0, others: 0, wallMs: 0 } as Cpu;
  for (const p of parts) for (const k of Object.keys(cpu) as (keyof Cpu)[]) cpu[k] += p.cpu[k];
  let sql: Measured['sql'];
  for (const p of parts) {
    if (!p.sql) continue;
    if (!sql) sql = { commits: 0, functions: [] };
    sql.commits += p.sql.commits;
    for (const f of p.sql.functions) {
      const g = sql.functions.find((x) => x.name === f.name);
      if (g) {
        g.calls += f.calls;
        g.selfMs += f.selfMs;
        g.totalMs += f.totalMs;
      } else sql.functions.push({ ...f });
    }
  }
  sql?.functions.sort((a, b) => b.totalMs - a.totalMs);
  return { result: mergeResults(parts.map((p) => p.result)), cpu, profiles: parts.flatMap((p) => p.profiles), sql, roundCycles: parts.map((p) => p.result.totalCycles), roundRates: parts.map((p) => p.result.perSecond) };
}

function verdictText(v: SafetyVerdict): string {
  return v.ok
    ? `OK — ${fmtInt(v.grants)} grants, no overlapping holds, fencing tokens strictly increasing`
    : `FAILED — ${v.grants} grants, ${v.overlaps} overlaps, ${v.nonIncreasingTokens} token inversions; ${v.detail.join('; ')}`;
}

interface ReportInput {
  started: Date;
  loadStart: number[];
  loadEnd: number[];
  serviceNote: string;
  etcdVersion?: string;
  etcdNote: string;
  sUnc: Measured;
  eUnc?: Measured;
  eUncPer?: Measured;
  sCon: Measured<ContendedResult>;
  eCon?: Measured<ContendedResult>;
  sSafety: SafetyVerdict;
  eSafety?: SafetyVerdict;
  sLate: LatenessResult;
  eLate?: LatenessResult;
  diag: Measured[];
  traffic: { label: string; traffic: RedisTraffic }[];
  vUnc?: Measured;
  vCon?: Measured<ContendedResult>;
  sState?: Measured;
  eState?: Measured;
  vState?: Measured;
  sWal?: WalPerCycle;
  vWal?: WalPerCycle;
}

function diagSection(r: ReportInput): string[] {
  const out: string[] = [];
  for (const m of [r.sUnc, r.sCon]) {
    if (!m.sql) continue;
    const cycles = m.result.totalCycles;
    out.push(
      `SQL during ${m.result.label} (pg_stat_user_functions; call counts lag up to ~1 s per backend, times per call are exact): ${fmt(m.sql.commits / cycles, 2)} commits/cycle; ` +
        m.sql.functions.map((f) => `${f.name} ${fmt(f.calls / cycles, 2)}/cycle, ${fmt(f.totalMs / f.calls, 2)} ms/call (self ${fmt(f.selfMs / f.calls, 2)})`).join('; '),
      '',
    );
  }
  for (const t of r.traffic) {
    const c = t.traffic.cycles || 1;
    out.push(
      `Redis during ${t.label} (MONITOR, ${fmtInt(t.traffic.cycles)} cycles): ${fmt(t.traffic.total / c, 1)} commands sent per cycle — ` +
        t.traffic.commands.map(([k, n]) => `${k} ${fmt(n / c, 2)}`).join(', ') +
        `; plus ${fmt(t.traffic.inScripts / c, 1)} commands per cycle run inside those Lua scripts`,
      '',
    );
  }
  return out;
}

function experiment(r: ReportInput): string[] {
  if (!r.vUnc && !r.vCon && !r.vState) return [];
  const row = (name: string, base: Measured, v?: Measured) => {
    if (!v || !base.result.totalCycles) return [];
    const per = (m: Measured, x: number) => x / Math.max(1, m.result.totalCycles);
    const node = (m: Measured) => per(m, m.cpu.service);
    const pg = (m: Measured) => per(m, m.cpu.postgres);
    return [
      `| ${name} | ${fmtInt(base.result.perSecond)} | ${fmtInt(v.result.perSecond)} | ${fmt(v.result.perSecond / base.result.perSecond, 2)}× | ${fmt(node(base), 3)} | ${fmt(node(v), 3)} | ${fmt(node(base) / node(v), 2)}× | ${fmt(pg(base), 3)} | ${fmt(pg(v), 3)} | ${fmt(pg(base) / pg(v), 2)}× |`,
    ];
  };
  return [
    VARIANT_REF
      ? `A/B (same run, interleaved): the service as built vs [${VARIANT_NAME}]. Ratios below 1× in the CPU columns mean this build costs less per cycle.`
      : `Experiment (same run, interleaved): the service as built vs a second instance [${VARIANT_NAME}] — not a shippable configuration, an estimate of what that change would gain.`,
    '',
    '| workload | cycles/s as built | cycles/s variant | ratio | Node CPU ms/cycle as built | variant | as built / variant | PostgreSQL CPU ms/cycle as built | variant | as built / variant |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...row('uncontended', r.sUnc, r.vUnc),
    ...row('contended', r.sCon, r.vCon),
    ...(r.sState ? row('state save+get', r.sState, r.vState) : []),
    '',
  ];
}

function walSection(r: ReportInput): string[] {
  if (!r.sWal) return [];
  const types = (w: WalPerCycle) => w.byType.map((t) => `${t.type} ${fmt(t.records, 2)} (${fmtInt(t.bytes)} B)`).join(', ');
  return [
    `WAL per uncontended cycle (${r.sWal.note}; the whole cluster's WAL, ${fmtInt(r.sWal.cycles)} cycles by ${CLIENTS} clients): ` +
      `as built ${fmtInt(r.sWal.bytesPerCycle)} bytes, ${fmt(r.sWal.recordsPerCycle, 2)} records — ${types(r.sWal)}` +
      (r.vWal ? `; [${VARIANT_NAME}] ${fmtInt(r.vWal.bytesPerCycle)} bytes, ${fmt(r.vWal.recordsPerCycle, 2)} records — ${types(r.vWal)}` : ''),
    '',
  ];
}

function report(r: ReportInput): string {
  const yes = (b: boolean) => (b ? '✅ met' : '❌ not met');
  const ratio = (a: number, b: number | undefined) => (b && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : '–');
  const lat = (l: { p50: number; p99: number }) => `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)}`;
  const sl = summary(r.sLate.samples);
  const el = r.eLate ? summary(r.eLate.samples) : undefined;
  const etcdName = r.etcdVersion ? r.etcdVersion.replace(/^etcd Version:\s*/i, 'etcd ') : 'etcd';
  const uncGoal = r.eUnc ? r.sUnc.result.perSecond >= r.eUnc.result.perSecond : undefined;
  const conGoal = r.eCon ? r.sCon.result.perSecond >= 2 * r.eCon.result.perSecond : undefined;
  const stateGoal = r.sState && r.eState ? r.sState.result.perSecond >= r.eState.result.perSecond : undefined;
  const lateGoal = sl.n > 0 && sl.p99 < 100 && r.sLate.errors.length === 0;
  const goal = (g: boolean | undefined) => (g === undefined ? 'n/a (no etcd)' : yes(g));

  const rows: string[] = [
    `| workload | queue-mutex | ${etcdName} | queue-mutex / etcd | goal |`,
    '|---|---:|---:|---:|---|',
    `| uncontended cycles/s (${CLIENTS} clients, one lock each) | **${fmtInt(r.sUnc.result.perSecond)}** | ${r.eUnc ? fmtInt(r.eUnc.result.perSecond) : '–'} | ${ratio(r.sUnc.result.perSecond, r.eUnc?.result.perSecond)} | ≥ 1× etcd: ${goal(uncGoal)} |`,
    `| uncontended cycle p50 / p99 ms | ${lat(r.sUnc.result)} | ${r.eUnc ? lat(r.eUnc.result) : '–'} | | |`,
  ];
  if (r.eUncPer) {
    rows.push(
      `| uncontended cycles/s, etcd taking a lease per cycle | ${fmtInt(r.sUnc.result.perSecond)} | ${fmtInt(r.eUncPer.result.perSecond)} | ${ratio(r.sUnc.result.perSecond, r.eUncPer.result.perSecond)} | (for information) |`,
      `| … p50 / p99 ms | ${lat(r.sUnc.result)} | ${lat(r.eUncPer.result)} | | |`,
    );
  }
  rows.push(
    `| contended cycles/s (${CLIENTS} clients, one lock, long-poll) | **${fmtInt(r.sCon.result.perSecond)}** | ${r.eCon ? fmtInt(r.eCon.result.perSecond) : '–'} | ${ratio(r.sCon.result.perSecond, r.eCon?.result.perSecond)} | ≥ 2× etcd: ${goal(conGoal)} |`,
    `| contended cycle p50 / p99 ms | ${lat(r.sCon.result)} | ${r.eCon ? lat(r.eCon.result) : '–'} | | |`,
    `| contended handoff p50 / p99 ms (release sent → next holder told) | ${lat(r.sSafety.handoff)} | ${r.eSafety ? lat(r.eSafety.handoff) : '–'} | | |`,
    ...(r.sState
      ? [
          `| Dapr state save+get cycles/s (${CLIENTS} clients, one key each; etcd: put+range) | **${fmtInt(r.sState.result.perSecond)}** | ${r.eState ? fmtInt(r.eState.result.perSecond) : '–'} | ${ratio(r.sState.result.perSecond, r.eState?.result.perSecond)} | ≥ 1× etcd: ${goal(stateGoal)} |`,
          `| state cycle p50 / p99 ms | ${lat(r.sState.result)} | ${r.eState ? lat(r.eState.result) : '–'} | | |`,
        ]
      : []),
    ...(r.sWal
      ? [
          `| PostgreSQL WAL per uncontended cycle, bytes / records (${fmtInt(r.sWal.cycles)} cycles) | **${fmtInt(r.sWal.bytesPerCycle)} / ${fmt(r.sWal.recordsPerCycle, 2)}** | | | ≤ 1,200 / ≤ 10: ${yes(r.sWal.bytesPerCycle <= 1200 && r.sWal.recordsPerCycle <= 10)} |`,
        ]
      : []),
    `| expiry lateness p50 / p99 / max ms (n = ${sl.n}${el ? ` / ${el.n}` : ''}) | **${fmt(sl.p50, 1)} / ${fmt(sl.p99, 1)} / ${fmt(sl.max, 1)}** | ${el ? `${fmt(el.p50, 1)} / ${fmt(el.p99, 1)} / ${fmt(el.max, 1)}` : '–'} | | p99 < 100 ms: ${yes(lateGoal)} |`,
    `| mutual exclusion + fencing (contended run) | ${r.sSafety.ok ? `ok, ${fmtInt(r.sSafety.grants)} grants` : '**VIOLATED**'} | ${r.eSafety ? (r.eSafety.ok ? `ok, ${fmtInt(r.eSafety.grants)} grants` : '**VIOLATED**') : '–'} | | no overlap, tokens increase: ${yes(r.sSafety.ok)} |`,
  );

  const all = [r.sUnc, r.eUnc, r.eUncPer, r.sCon, r.eCon, r.sState, r.eState, r.vUnc, r.vCon, r.vState, ...r.diag].filter(Boolean) as Measured[];
  const wall = all.reduce((a, m) => a + m.cpu.wallMs, 0);
  const others = all.reduce((a, m) => a + m.cpu.others, 0);
  const noisy = (100 * others) / Math.max(1, wall);

  const detail = (m: Measured | undefined) => {
    if (!m) return [];
    const x = m.result;
    const c = m.cpu;
    const pct = (ms: number) => fmt((100 * ms) / c.wallMs, 0);
    const isEtcd = x.label.startsWith('etcd');
    const serverMs = isEtcd ? c.etcd : c.service + c.postgres + c.redis;
    const steps = Object.entries(x.steps)
      .map(([k, v]) => `${k} ${fmt(v.p50, 1)}/${fmt(v.p99, 1)}`)
      .join('; ');
    return [
      `| ${x.label} | ${fmtInt(x.cycles)} | ${fmt(x.perSecond, 0)} | ${m.roundRates && m.roundRates.length > 1 ? `${fmtInt(Math.min(...m.roundRates))}–${fmtInt(Math.max(...m.roundRates))}` : '–'} | ${fmt(x.p50, 2)} | ${fmt(x.p99, 2)} | ${x.errors}${x.aborted ? ' (aborted)' : ''} | ` +
        `${pct(c.service)} / ${pct(c.postgres)} / ${pct(c.redis)} / ${pct(c.etcd)} / ${pct(c.bench)} / ${pct(c.others)} | ` +
        `${x.totalCycles ? fmt(serverMs / x.totalCycles, 2) : '–'}${isEtcd ? '' : ` (${fmt(c.service / x.totalCycles, 2)} + ${fmt(c.postgres / x.totalCycles, 2)} + ${fmt(c.redis / x.totalCycles, 2)})`} | ${steps} |`,
    ];
  };

  const lines = [
    `## Benchmark: queue-mutex vs ${etcdName} lock`,
    '',
    `${r.started.toISOString()} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}) · node ${process.version} · service: ${r.serviceNote} · ${CLIENTS} clients · ` +
      `${SECONDS} s measured per workload and system in ${ROUNDS} round(s), A-B-B-A, ${WARMUP} s warm-up each · load average ${r.loadStart[0].toFixed(1)} → ${r.loadEnd[0].toFixed(1)}; ` +
      `other processes used ${fmt(noisy, 0)}% of a core on average while we measured${noisy > 30 ? ' (**noisy run**)' : ''} · \`npm run bench\``,
    '',
    ...rows,
    '',
    r.etcdNote ? `> ${r.etcdNote}\n` : '',
    ...experiment(r),
    '<details><summary>Details: per workload</summary>',
    '',
    'CPU columns: % of one core during the workload for service / its PostgreSQL backends / redis-server / etcd / this bench client / everything else on the machine. ' +
      'Server CPU per cycle: etcd alone, or service + PostgreSQL + Redis for queue-mutex. Steps: p50/p99 ms of each request.',
    '',
    '| workload | cycles | /s | /s per round, min–max | p50 ms | p99 ms | errors | CPU % svc / pg / redis / etcd / bench / others | server CPU ms per cycle (svc + pg + redis) | steps p50/p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|---|',
    ...detail(r.sUnc),
    ...detail(r.eUnc),
    ...detail(r.eUncPer),
    ...detail(r.sCon),
    ...detail(r.eCon),
    ...detail(r.vUnc),
    ...detail(r.vCon),
    ...detail(r.sState),
    ...detail(r.eState),
    ...detail(r.vState),
    ...r.diag.flatMap((d) => detail(d)),
    '',
    ...walSection(r),
    `Expiry lateness, queue-mutex: ${r.sLate.note}; samples (ms): ${r.sLate.samples.map((x) => fmt(x, 0)).join(', ')}${r.sLate.errors.length ? `; errors: ${r.sLate.errors.length}` : ''}`,
    r.eLate ? `\nExpiry lateness, etcd: ${r.eLate.note}; samples (ms): ${r.eLate.samples.map((x) => fmt(x, 0)).join(', ')}${r.eLate.errors.length ? `; errors: ${r.eLate.errors.length}` : ''}` : '',
    '',
    `Mutual exclusion, queue-mutex: ${verdictText(r.sSafety)}.${r.eSafety ? ` etcd: ${verdictText(r.eSafety)} (token = lock response header revision).` : ''}`,
    '',
    ...diagSection(r),
    '</details>',
    '',
  ];
  return lines.join('\n');
}

main()
  .then(() => {
    // Everything is closed by now; if some handle still keeps the loop alive, do not hang.
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles().map((h) => {
        const sock = h as { constructor?: { name?: string }; remotePort?: number; fd?: number };
        return `${sock.constructor?.name}${sock.remotePort ? `→${sock.remotePort}` : ''}${sock.fd !== undefined ? ` fd ${sock.fd}` : ''}`;
      });
      const requests = (process as unknown as { _getActiveRequests(): object[] })._getActiveRequests().map((r) => r.constructor?.name);
      log(`open handles left after cleanup (${handles.join(', ')}; requests: ${requests.join(', ')}): exiting`);
      process.exit(process.exitCode ?? 0);
    }, 3_000).unref();
  })
  .catch((err) => {
    log(`FAILED: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  });
