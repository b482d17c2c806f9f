import { performance } from 'node:perf_hooks';
import { sleep, summary } from './stats';

export interface LoadOptions {
  clients: number;
  warmupMs: number;
  measureMs: number;
  /** Give up on the workload after this many failed cycles. */
  maxErrors?: number;
}

export interface LoadResult {
  label: string;
  clients: number;
  /** Cycles that finished inside the measure window. */
  cycles: number;
  /** Every cycle that finished, warm-up and drain included (for per-cycle CPU figures). */
  totalCycles: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  firstErrors: string[];
  /** Latency of individual request kinds (ms), when the cycle records them. */
  steps: Record<string, { n: number; p50: number; p99: number }>;
  /** Cycles started but still running when the measure window closed (drained afterwards). */
  drained: number;
  aborted?: string;
  /** Raw cycle latencies (ms) of the measured cycles and of each step, for merging rounds. */
  samples: number[];
  stepSamples: Record<string, number[]>;
}

/** What one cycle tells the runner: named step durations (ms), optional. */
export type StepRecorder = (name: string, ms: number) => void;

/**
 * Closed-loop load: `clients` loops, each running `cycle` back to back. Cycles that finish
 * inside [warm-up end, measure end] count; after the window closes no new cycle starts and the
 * running ones are drained, so every workload stops by itself.
 */
export async function closedLoop(
  label: string,
  opts: LoadOptions,
  cycle: (client: number, step: StepRecorder) => Promise<void>,
): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const measureUntil = measureFrom + opts.measureMs;
  const latencies: number[] = [];
  const steps = new Map<string, number[]>();
  const firstErrors: string[] = [];
  const maxErrors = opts.maxErrors ?? 50;
  let errors = 0;
  let drained = 0;
  let totalCycles = 0;
  let aborted: string | undefined;

  const loop = async (client: number) => {
    while (!aborted && performance.now() < measureUntil) {
      const t0 = performance.now();
      const local: [string, number][] = [];
      try {
        await cycle(client, (name, ms) => local.push([name, ms]));
      } catch (err) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(String((err as Error).message ?? err));
        if (errors >= maxErrors) aborted = `${errors} errors`;
        await sleep(20);
        continue;
      }
      const t1 = performance.now();
      totalCycles++;
      if (t1 > measureUntil) drained++;
      if (t0 >= measureFrom && t1 <= measureUntil) {
        latencies.push(t1 - t0);
        for (const [name, ms] of local) {
          let arr = steps.get(name);
          if (!arr) steps.set(name, (arr = []));
          arr.push(ms);
        }
      } else if (t1 >= measureFrom && t1 <= measureUntil) {
        // Started during warm-up, finished inside the window: counts for throughput only.
        latencies.push(NaN);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.clients }, (_, i) => loop(i)));

  const valid = latencies.filter((x) => !Number.isNaN(x));
  const s = summary(valid);
  const seconds = opts.measureMs / 1000;
  const stepSamples: Record<string, number[]> = {};
  for (const [name, arr] of steps) stepSamples[name] = arr;
  return {
    label,
    clients: opts.clients,
    cycles: latencies.length,
    totalCycles,
    seconds,
    perSecond: latencies.length / seconds,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    errors,
    firstErrors,
    steps: stepStats(stepSamples),
    drained,
    aborted,
    samples: valid,
    stepSamples,
  };
}

function stepStats(samples: Record<string, number[]>): LoadResult['steps'] {
  const out: LoadResult['steps'] = {};
  for (const [name, arr] of Object.entries(samples)) {
    const ss = summary(arr);
    out[name] = { n: ss.n, p50: ss.p50, p99: ss.p99 };
  }
  return out;
}

/** One result from several rounds of the same workload (cycles and time add up; percentiles over all samples). */
export function mergeResults<R extends LoadResult>(parts: R[]): R {
  if (parts.length === 1) return parts[0];
  const samples = parts.flatMap((p) => p.samples);
  const stepSamples: Record<string, number[]> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.stepSamples)) (stepSamples[k] ??= []).push(...v);
  const cycles = parts.reduce((a, p) => a + p.cycles, 0);
  const seconds = parts.reduce((a, p) => a + p.seconds, 0);
  const s = summary(samples);
  const merged: LoadResult = {
    label: parts[0].label,
    clients: parts[0].clients,
    cycles,
    totalCycles: parts.reduce((a, p) => a + p.totalCycles, 0),
    seconds,
    perSecond: cycles / seconds,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    errors: parts.reduce((a, p) => a + p.errors, 0),
    firstErrors: parts.flatMap((p) => p.firstErrors).slice(0, 5),
    steps: stepStats(stepSamples),
    drained: parts.reduce((a, p) => a + p.drained, 0),
    aborted: parts.map((p) => p.aborted).find(Boolean),
    samples,
    stepSamples,
  };
  const extra: Record<string, unknown> = {};
  // Concatenate any array fields the caller added (e.g. grants of a contended run).
  for (const key of Object.keys(parts[0])) {
    if (key in merged) continue;
    const v = (parts[0] as Record<string, unknown>)[key];
    extra[key] = Array.isArray(v) ? parts.flatMap((p) => (p as unknown as Record<string, unknown[]>)[key]) : v;
  }
  return { ...extra, ...merged } as R;
}

/** Wall-clock "now" with sub-millisecond resolution (comparable with server timestamps on this host). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A grant observed by a client during a contended run, for the mutual-exclusion check. */
export interface Grant {
  client: number;
  token: number;
  /** performance.now() when the client learned it holds the lock. */
  grantedAt: number;
  /** performance.now() when the client sent its release. */
  releasedAt: number;
}

export interface SafetyVerdict {
  ok: boolean;
  grants: number;
  overlaps: number;
  nonIncreasingTokens: number;
  detail: string[];
  /** Handoff: from a holder sending its release to the next holder learning it holds the lock (ms). */
  handoff: { n: number; p50: number; p99: number };
}

/**
 * Mutual exclusion seen from the clients: sorted by the moment each client learned it holds the
 * lock, each hold [grantedAt, releasedAt] must start after the previous one ended (the next grant
 * is committed only after the previous release reached the server), and fencing tokens must
 * strictly increase in that order.
 */
export function checkSafety(grants: Grant[]): SafetyVerdict {
  const sorted = [...grants].sort((a, b) => a.grantedAt - b.grantedAt);
  let overlaps = 0;
  let nonIncreasing = 0;
  const detail: string[] = [];
  const gaps: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    // Only back-to-back grants (the lock went straight to a waiter), not pauses between rounds.
    if (cur.grantedAt >= prev.releasedAt && cur.grantedAt - prev.releasedAt < 1_000) gaps.push(cur.grantedAt - prev.releasedAt);
    if (cur.grantedAt < prev.releasedAt) {
      overlaps++;
      if (detail.length < 5) detail.push(`overlap: client ${cur.client} (token ${cur.token}) got the lock ${(prev.releasedAt - cur.grantedAt).toFixed(2)} ms before client ${prev.client} (token ${prev.token}) released`);
    }
    if (!(cur.token > prev.token)) {
      nonIncreasing++;
      if (detail.length < 5) detail.push(`token order: ${prev.token} then ${cur.token}`);
    }
  }
  const h = summary(gaps);
  return { ok: overlaps === 0 && nonIncreasing === 0 && sorted.length > 0, grants: sorted.length, overlaps, nonIncreasingTokens: nonIncreasing, detail, handoff: { n: h.n, p50: h.p50, p99: h.p99 } };
}
