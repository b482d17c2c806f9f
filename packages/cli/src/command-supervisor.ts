import { ChildProcess, spawn } from 'node:child_process';

export interface CommandOutcome {
  /** Exit code, when the command exited by itself. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  /** It could not be started (not found, not executable). */
  error: NodeJS.ErrnoException | null;
}

/**
 * Runs the command with the CLI's own stdin, stdout and stderr, and signals it.
 *
 * Outside a terminal (CI, scripts) it runs in a process group of its own and every signal goes to
 * that whole group, exactly once: a shell script's own children stop too, and a runner that
 * signals the CLI's group does not signal the command twice. In a terminal it stays in the
 * terminal's foreground group, so it can read the keyboard; Ctrl-C and a hang-up reach it from
 * the terminal directly, so only SIGTERM is passed on.
 */
export class CommandSupervisor {
  readonly exited: Promise<CommandOutcome>;
  private readonly child: ChildProcess;
  private readonly ownGroup: boolean;
  private done = false;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(command: string[], env: NodeJS.ProcessEnv, terminal: boolean) {
    this.ownGroup = !terminal;
    this.child = spawn(command[0], command.slice(1), { stdio: 'inherit', env, detached: this.ownGroup });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error: NodeJS.ErrnoException) => {
        // Only a failure to start comes without an exit.
        if (this.child.pid === undefined) this.finish(resolve, { code: null, signal: null, error });
      });
      this.child.once('exit', (code, signal) => this.finish(resolve, { code, signal, error: null }));
    });
  }

  private finish(resolve: (o: CommandOutcome) => void, outcome: CommandOutcome): void {
    if (this.done) return;
    this.done = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    resolve(outcome);
  }

  /** Passes a signal the CLI received on to the command. */
  forward(signal: NodeJS.Signals): void {
    if (!this.ownGroup && signal !== 'SIGTERM') return; // the terminal sent it to the command already
    this.send(signal);
  }

  /** SIGTERM now, SIGKILL after `graceMs` if it is still running (`onKill` tells when). */
  terminate(graceMs: number, onKill?: () => void): void {
    this.send('SIGTERM');
    this.killTimer ??= setTimeout(() => {
      if (this.done) return;
      onKill?.();
      this.send('SIGKILL');
    }, graceMs);
  }

  private send(signal: NodeJS.Signals): void {
    if (this.done || this.child.pid === undefined) return;
    try {
      if (this.ownGroup) process.kill(-this.child.pid, signal);
      else this.child.kill(signal);
    } catch {
      // ESRCH: it is exiting; its exit event follows.
    }
  }
}
