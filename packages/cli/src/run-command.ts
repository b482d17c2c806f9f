import { isatty } from 'node:tty';
import { endTicket, formatDuration, LeaseKeeper, LeaseLoss, lockName, SfpClient, SfpHttpError, Ticket } from '@queue-mutex/client';
import { CommandSupervisor } from './command-supervisor';
import { Connection, QueueSettings } from './cli-options';
import { EXIT, signalExitCode } from './exit-codes';
import { ProgressReporter } from './progress-reporter';
import { queueAndWait, SIGNALS } from './ticket-session';

export interface RunSettings {
  connection: Connection;
  queue: QueueSettings;
  killGraceSeconds: number;
  command: string[];
}

/**
 * `queue-mutex run`: queue, wait, run the command holding the lock, renew while it runs, release.
 * Resolves with the exit code; errors it does not handle (refused key, unreachable server at the
 * start) reject for the caller to map.
 */
export async function runCommand(s: RunSettings, client: SfpClient): Promise<number> {
  const out = new ProgressReporter(process.stderr, client, s.connection.quiet);
  const { lock } = s.queue;
  const interrupt = new AbortController();
  // Set from signal handlers and callbacks, read after awaits.
  const state: { received: NodeJS.Signals | null; supervisor: CommandSupervisor | null; lost: LeaseLoss | null } = { received: null, supervisor: null, lost: null };
  const onSignal = (signal: NodeJS.Signals) => {
    state.received ??= signal;
    if (state.supervisor) state.supervisor.forward(signal);
    else interrupt.abort(signal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    // 1. Queue and wait for the grant.
    const started = Date.now();
    const queued = await queueAndWait(client, s.queue, true, interrupt.signal, out);
    if ('exitCode' in queued) return queued.exitCode;
    const { ticket } = queued;
    if (state.received) {
      await releaseTicket(client, s, ticket, out);
      return signalExitCode(state.received);
    }
    const tokens = ticket.resources.length > 1 ? `fencing tokens ${JSON.stringify(ticket.fencingTokens)}` : `fencing token ${ticket.fencingToken}`;
    out.info(`acquired ${lock.repository} ${ticket.resources.join('+')} after ${formatDuration(Date.now() - started)} (ticket ${ticket.id}, ${tokens}); running ${s.command[0]}`);

    // 2. Hold: run the command, renewing the lease until it exits.
    const heldSince = Date.now();
    const supervisor = (state.supervisor = new CommandSupervisor(s.command, commandEnv(ticket), isatty(0)));
    const keeper = new LeaseKeeper(client, lock, ticket, {
      onLost: (loss) => {
        state.lost = loss;
        out.warn(`lease lost on ${lockName(lock)}: ${loss.message}; stopping the command (SIGTERM, SIGKILL after ${formatDuration(s.killGraceSeconds * 1_000)})`);
        supervisor.terminate(s.killGraceSeconds * 1_000, () => out.warn(`the command is still running after ${formatDuration(s.killGraceSeconds * 1_000)}: SIGKILL`));
      },
    }).start();
    const outcome = await supervisor.exited;
    await keeper.stop();
    if (outcome.error) out.warn(`cannot run '${s.command[0]}': ${outcome.error.code === 'ENOENT' ? 'command not found' : outcome.error.message}`);

    // 3. Release; a release that finds the ticket ended means the lease ran out under the command.
    if (!state.lost) state.lost = await releaseTicket(client, s, ticket, out, Date.now() - heldSince);
    else if (state.lost.kind === 'unreachable') await endTicket(client, lock, ticket.id, (m) => out.warn(m)); // in case the server is back

    if (state.received) return signalExitCode(state.received);
    if (state.lost) return state.lost.kind === 'refused' ? EXIT.KEY_REFUSED : EXIT.LEASE_LOST;
    if (outcome.error) return outcome.error.code === 'ENOENT' ? EXIT.COMMAND_NOT_FOUND : EXIT.CANNOT_EXECUTE;
    if (outcome.signal) return signalExitCode(outcome.signal);
    return outcome.code ?? EXIT.SOFTWARE;
  } finally {
    out.clear();
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

function commandEnv(ticket: Ticket): NodeJS.ProcessEnv {
  return {
    ...process.env,
    QUEUE_MUTEX_TICKET: ticket.id,
    QUEUE_MUTEX_FENCING_TOKEN: String(ticket.fencingToken ?? ''),
    QUEUE_MUTEX_LEASE_EXPIRES_AT: ticket.leaseExpiresAt ?? '',
    // What it holds: a pool ticket learns here which members it got.
    QUEUE_MUTEX_RESOURCE: ticket.resource,
    QUEUE_MUTEX_RESOURCES: JSON.stringify(ticket.resources),
    QUEUE_MUTEX_FENCING_TOKENS: JSON.stringify(ticket.fencingTokens),
  };
}

/**
 * Releases after the command; returns a LeaseLoss when the server says the ticket had already
 * ended (expired, cleared, released by someone else) before this release.
 */
async function releaseTicket(client: SfpClient, s: RunSettings, ticket: Ticket, out: ProgressReporter, heldMs?: number): Promise<LeaseLoss | null> {
  const { lock } = s.queue;
  const startedOnServer = client.serverNow() - 1_000;
  try {
    await client.release(lock, ticket.id, { retryUntil: Date.now() + Math.min(15_000, s.connection.retryForMs) });
    if (heldMs !== undefined) out.info(`released ${lockName(lock)} (held ${formatDuration(heldMs)})`);
    return null;
  } catch (err) {
    if (err instanceof SfpHttpError && err.status === 409) {
      // A retried release whose first answer was lost finds its own release: not a loss.
      const releasedAt = Date.parse(String((err.body as { releasedAt?: unknown })?.releasedAt ?? ''));
      if (err.releaseReason === 'released' && releasedAt >= startedOnServer) return null;
      const loss: LeaseLoss = { kind: 'ended', releaseReason: err.releaseReason, status: 409, message: err.message };
      out.warn(`lease lost on ${lockName(lock)} before the command ended: ${err.message}`);
      return loss;
    }
    out.warn(`could not release ${lockName(lock)}: ${(err as Error).message}; the lease ends by itself at ${ticket.leaseExpiresAt ?? 'its expiry'} at the latest`);
    return null;
  }
}
