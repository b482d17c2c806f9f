import { constants } from 'node:os';

/**
 * The CLI's own failures use sysexits.h, as `etcdctl lock` and `consul lock` users expect; every
 * other exit code of `run` is the command's own (128 + n when a signal ended it).
 */
export const EXIT = {
  OK: 0,
  /** A status or list call that found nothing to show. */
  NOT_FOUND: 1,
  USAGE: 64,
  UNAVAILABLE: 69,
  /** A bug or an answer the CLI cannot read. */
  SOFTWARE: 70,
  /** Gave up waiting (--wait-timeout), or the ticket ended before its grant. */
  TEMPFAIL: 75,
  LEASE_LOST: 76,
  KEY_REFUSED: 77,
  /** As a shell: the command cannot be executed / was not found. */
  CANNOT_EXECUTE: 126,
  COMMAND_NOT_FOUND: 127,
} as const;

/** Ends the CLI with a message on stderr and an exit code; never a stack trace. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** A second line, such as where to read the usage. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}

export function usageError(message: string, command?: string): CliExit {
  return new CliExit(EXIT.USAGE, message, `Try 'queue-mutex ${command ? `${command} ` : ''}--help'.`);
}

/** The shell's exit code for a process ended by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
