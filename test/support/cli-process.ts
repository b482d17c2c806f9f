import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = join(__dirname, '..', '..');
/** The CLI as users run it: the package's bin, which loads the built bundle. */
export const CLI_BIN = join(ROOT, 'packages', 'cli', 'bin', 'queue-mutex.js');

const execFileAsync = promisify(execFile);

/** Builds the CLI with its package's own build script (typecheck, then the bundle). */
export async function buildCli(): Promise<void> {
  await execFileAsync('npm', ['run', 'build', '--workspace', '@queue-mutex/cli'], { cwd: ROOT });
}

/**
 * An environment with nothing from the test runner's own (no CI variables that would change the
 * ticket's metadata): PATH, HOME, and what the test gives.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...extra };
}

export interface ProcessRun {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves when it has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts a Node script as a real child process, its output collected; `input` is its whole stdin. */
export function startNode(script: string, args: string[], env: Record<string, string>, input?: string): ProcessRun {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
  };
}

export function startCli(args: string[], env: Record<string, string>, input?: string): ProcessRun {
  return startNode(CLI_BIN, args, env, input);
}

export function runCli(args: string[], env: Record<string, string>, input?: string) {
  return startCli(args, env, input).exited;
}

/** Polls until `probe` returns something truthy; fails naming `what` after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A loopback port nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
