/** Nearest-rank percentile of an unsorted sample (copy sorted inside); NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summary(values: number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const n = values.length;
  return {
    n,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: n ? Math.max(...values) : NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : NaN,
  };
}

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The fields of /proc/<pid>/stat after the command name: [0] is field 3 (state). Null if gone. */
function procStat(pid: number | undefined): string[] | null {
  if (!pid) return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const stat: string = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time (user + system) of a process in ms, from /proc; NaN if unavailable. */
export function processCpuMs(pid: number | undefined): number {
  const fields = procStat(pid);
  // utime is field 14, stime field 15 (1-based)
  return fields ? ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks() : NaN;
}

/** CPU ms of a process's children that have exited and been reaped (cutime + cstime). */
export function reapedChildrenCpuMs(pid: number | undefined): number {
  const fields = procStat(pid);
  // cutime is field 16, cstime field 17 (1-based)
  return fields ? ((Number(fields[13]) + Number(fields[14])) * 1000) / clockTicks() : NaN;
}

/** CPU ms of every living child of `ppid` (a postmaster's backends and workers), by pid. */
export function childrenCpuMs(ppid: number | undefined): Map<number, number> {
  const fs = require('node:fs');
  const children = new Map<number, number>();
  if (ppid === undefined) return children;
  for (const entry of fs.readdirSync('/proc') as string[]) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = procStat(Number(entry));
    if (fields && Number(fields[1]) === ppid) children.set(Number(entry), processCpuMs(Number(entry)));
  }
  return children;
}

export function parentPid(pid: number): number | undefined {
  return Number(procStat(pid)?.[1]) || undefined;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(require('node:child_process').execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU ms used by every process whose command name is `comm` (e.g. all postgres backends). */
export function cpuMsOfCommand(comm: string): number {
  const fs = require('node:fs');
  let total = 0;
  for (const entry of fs.readdirSync('/proc') as string[]) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== comm) continue;
      total += processCpuMs(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** Busy CPU ms of the whole machine (all cores, from /proc/stat), for "what else was running". */
export function machineBusyMs(): number {
  try {
    const line = require('node:fs').readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3] + (v[4] ?? 0);
    return ((total - idle) * 1000) / clockTicks();
  } catch {
    return NaN;
  }
}

/** Like sleep, but does not keep the process alive (for "wait for exit, at most N ms" races). */
export const sleepUnref = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
