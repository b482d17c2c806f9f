import fs from 'node:fs';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which bucket a frame's self time belongs to: an npm package, the app, node itself, or V8. */
function bucket(url: string, fn: string): string {
  if (!url) {
    if (fn === '(idle)') return '(idle)';
    if (fn === '(garbage collector)') return '(garbage collector)';
    if (fn === '(program)') return '(program: native/runtime)';
    return `(native) ${fn || 'anonymous'}`;
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const m = url.match(/\/(dist\/)?(src|migrations)\/(.*)$/);
  if (m) return `app: ${m[2]}/${m[3].split('/')[0]}`;
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  byBucket: [string, number][];
  /** Self time with native and node: frames charged to the nearest package or app frame above them. */
  byCaller: [string, number][];
  byFunction: [string, number][];
  /** Inclusive time of frames whose name matches, summed once per sample (no double counting). */
  inclusive: [string, number][];
  /** Inclusive time of each app (src/) function and of a few library entry points. */
  inclusiveFunctions: [string, number][];
}

/** Library entry points worth seeing inclusively (package path fragment, function name). */
const ENTRY_POINTS: [string, string][] = [
  ['pino-http/logger.js', 'loggingMiddleware'],
  ['pino-http/logger.js', 'onResFinished'],
  ['pino/lib/proto.js', 'child'],
  ['@nestjs/common/pipes/validation.pipe.js', 'transform'],
  ['class-validator/', 'validate'],
  ['class-transformer/', 'plainToInstance'],
  ['@nestjs/passport/dist/auth.guard.js', 'canActivate'],
  ['bullmq/dist/cjs/classes/queue.js', 'add'],
  ['bullmq/dist/cjs/classes/queue.js', 'remove'],
  ['bullmq/dist/cjs/classes/worker.js', 'run'],
  ['ioredis/built/Redis.js', 'sendCommand'],
  ['pg/lib/client.js', 'query'],
  ['pg-pool/index.js', 'connect'],
  ['fastify/lib/reply.js', 'serialize'],
  ['fastify/lib/contentTypeParser.js', 'rawBody'],
  ['prom-client/lib/histogram.js', 'observe'],
  ['@fastify/middie/', 'runMiddie'],
  ['@nestjs/core/router/router-execution-context.js', 'create'],
];

/**
 * Self time per package and per function from a V8 .cpuprofile, plus inclusive time of a few
 * interesting frames (JSON, validation, logging, BullMQ, auth ...), counted once per sample.
 */
export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p: CpuProfile = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map<number, CpuNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    selfMs.set(p.samples[i], (selfMs.get(p.samples[i]) ?? 0) + dt);
  }
  const buckets = new Map<string, number>();
  const callers = new Map<string, number>();
  const callerOf = new Map<number, string>();
  const caller = (id: number): string => {
    const cached = callerOf.get(id);
    if (cached) return cached;
    const n = byId.get(id)!;
    const url = n.callFrame.url;
    let b: string;
    if (url && !url.startsWith('node:')) b = bucket(url, n.callFrame.functionName);
    else if (parent.has(id)) b = caller(parent.get(id)!);
    else b = bucket(url, n.callFrame.functionName);
    if (b === '(root)' || b === '(native) (root)') b = bucket(url, n.callFrame.functionName);
    callerOf.set(id, b);
    return b;
  };
  const fns = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of selfMs) {
    const n = byId.get(id)!;
    const b = bucket(n.callFrame.url, n.callFrame.functionName);
    total += ms;
    if (b === '(idle)') idle += ms;
    buckets.set(b, (buckets.get(b) ?? 0) + ms);
    const c = b === '(idle)' || b === '(garbage collector)' || b.startsWith('(program') ? b : caller(id);
    callers.set(c, (callers.get(c) ?? 0) + ms);
    const short = n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist\/)?src\//, 'src/');
    const key = `${n.callFrame.functionName || '(anonymous)'}  ${short}:${n.callFrame.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }

  const patterns: [string, (n: CpuNode) => boolean][] = [
    ['pino / pino-http (logging)', (n) => /node_modules\/(pino|pino-http|nestjs-pino)\//.test(n.callFrame.url)],
    ['class-validator + class-transformer (DTO pipes)', (n) => /node_modules\/(class-validator|class-transformer)\//.test(n.callFrame.url)],
    ['passport (auth strategies)', (n) => /node_modules\/(passport|passport-http-bearer|passport-custom|@nestjs\/passport)\//.test(n.callFrame.url)],
    ['bullmq (timers)', (n) => /node_modules\/bullmq\//.test(n.callFrame.url)],
    ['ioredis', (n) => /node_modules\/ioredis\//.test(n.callFrame.url)],
    ['pg + pg-protocol', (n) => /node_modules\/(pg|pg-protocol|pg-pool)\//.test(n.callFrame.url)],
    ['typeorm', (n) => /node_modules\/typeorm\//.test(n.callFrame.url)],
    ['fastify + avvio + find-my-way', (n) => /node_modules\/(fastify|find-my-way|avvio|light-my-request|@fastify\/[^/]+)\//.test(n.callFrame.url)],
    ['@nestjs/core + common + platform-fastify', (n) => /node_modules\/@nestjs\/(core|common|platform-fastify)\//.test(n.callFrame.url)],
    ['rxjs', (n) => /node_modules\/rxjs\//.test(n.callFrame.url)],
    ['app code (src/)', (n) => /\/(dist\/)?src\//.test(n.callFrame.url) && !n.callFrame.url.includes('node_modules')],
    ['JSON.parse / JSON.stringify', (n) => n.callFrame.functionName === 'parse' || n.callFrame.functionName === 'stringify'],
    ['crypto (hash/compare)', (n) => /node:crypto|internal\/crypto/.test(n.callFrame.url) || /timingSafeEqual|createHash|randomUUID/.test(n.callFrame.functionName)],
  ];
  // inclusive: a sample counts for a pattern if any frame on its stack matches.
  const incl = new Map<string, number>();
  const stackMatch = new Map<number, Set<string>>();
  const matchesOf = (id: number): Set<string> => {
    const cached = stackMatch.get(id);
    if (cached) return cached;
    const n = byId.get(id)!;
    const up = parent.has(id) ? matchesOf(parent.get(id)!) : new Set<string>();
    const mine = new Set(up);
    for (const [name, test] of patterns) if (test(n)) mine.add(name);
    stackMatch.set(id, mine);
    return mine;
  };
  for (const [id, ms] of selfMs) for (const name of matchesOf(id)) incl.set(name, (incl.get(name) ?? 0) + ms);

  // Inclusive time per app function / entry point: each sample counts once per distinct frame key on its stack.
  const fnKey = (n: CpuNode): string | undefined => {
    const url = n.callFrame.url;
    if (!url.includes('node_modules') && /\/(dist\/)?src\//.test(url)) {
      return `${n.callFrame.functionName || '(anonymous)'}  ${url.replace(/^.*\/(dist\/)?src\//, 'src/')}:${n.callFrame.lineNumber + 1}`;
    }
    for (const [frag, fn] of ENTRY_POINTS) if (url.includes(frag) && n.callFrame.functionName === fn) return `${fn}  ${frag}`;
    return undefined;
  };
  const stackKeys = new Map<number, Set<string>>();
  const keysOf = (id: number): Set<string> => {
    const cached = stackKeys.get(id);
    if (cached) return cached;
    const up = parent.has(id) ? keysOf(parent.get(id)!) : new Set<string>();
    const k = fnKey(byId.get(id)!);
    const mine = k && !up.has(k) ? new Set(up).add(k) : up;
    stackKeys.set(id, mine);
    return mine;
  };
  const inclFn = new Map<string, number>();
  for (const [id, ms] of selfMs) for (const k of keysOf(id)) inclFn.set(k, (inclFn.get(k) ?? 0) + ms);

  const sortDesc = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total,
    busyMs: total - idle,
    byBucket: sortDesc(buckets),
    byCaller: sortDesc(callers),
    byFunction: sortDesc(fns).slice(0, topN),
    inclusive: sortDesc(incl),
    inclusiveFunctions: sortDesc(inclFn).slice(0, 40),
  };
}

export function profileMarkdown(title: string, s: ProfileSummary, cycles: number): string {
  const pct = (ms: number) => ((100 * ms) / Math.max(1, s.busyMs)).toFixed(1);
  const perCycle = (ms: number) => (cycles > 0 ? ((1000 * ms) / cycles).toFixed(1) : '–');
  const lines = [
    `### CPU profile: ${title}`,
    '',
    `Sampled ${(s.totalMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / Math.max(1, s.totalMs)).toFixed(0)}% of one core); ${cycles} cycles → ${perCycle(s.busyMs)} µs of service CPU per cycle.`,
    '',
    '| self time by package | % of busy | µs/cycle |',
    '|---|---:|---:|',
    ...s.byBucket.filter(([b]) => b !== '(idle)').slice(0, 20).map(([b, ms]) => `| ${b} | ${pct(ms)} | ${perCycle(ms)} |`),
    '',
    '| self time, native/node: frames charged to the calling package | % of busy | µs/cycle |',
    '|---|---:|---:|',
    ...s.byCaller.filter(([b]) => b !== '(idle)').slice(0, 20).map(([b, ms]) => `| ${b} | ${pct(ms)} | ${perCycle(ms)} |`),
    '',
    '| inclusive time (anything under these frames) | % of busy | µs/cycle |',
    '|---|---:|---:|',
    ...s.inclusive.map(([b, ms]) => `| ${b} | ${pct(ms)} | ${perCycle(ms)} |`),
    '',
    '| inclusive time of app functions and library entry points | % of busy | µs/cycle |',
    '|---|---:|---:|',
    ...s.inclusiveFunctions.map(([f, ms]) => `| \`${f.replace(/\|/g, '\\|')}\` | ${pct(ms)} | ${perCycle(ms)} |`),
    '',
    '| top self-time functions | % of busy |',
    '|---|---:|',
    ...s.byFunction.filter(([f]) => !f.startsWith('(idle)')).map(([f, ms]) => `| \`${f.replace(/\|/g, '\\|')}\` | ${pct(ms)} |`),
    '',
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: ts-node bench/profile.ts <file.cpuprofile> [cycles]\n');
    process.exit(2);
  }
  process.stdout.write(profileMarkdown(file, summarizeProfile(file, 40), Number(process.argv[3] ?? 0)) + '\n');
}
