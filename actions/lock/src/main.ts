import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  describeWait,
  detectCiMetadata,
  endTicket,
  formatDuration,
  targetBody,
  targetName,
  Ticket,
  TicketEndedError,
  waitForGrant,
  WaitTimeoutError,
  waitSignature,
} from '@queue-mutex/client';
import { ActionFailure, info, mask, runStep, saveState, setOutput, warning } from './action-runtime';
import { clientFor, failure, readSettings, STATE } from './action-settings';
import { RENEWER_ENV } from './renewer-protocol';

/** A plain log repeats an unchanged wait status this often. */
const REPEAT_MS = 30_000;

/**
 * The action's main step: queue, wait (logging the queue position), then leave a detached
 * renewer behind that keeps the lease for the rest of the job; the post step stops it and
 * releases. The ticket is saved for post as soon as it exists, so a job cancelled while
 * waiting still leaves the queue.
 */
runStep(async () => {
  const s = readSettings();
  mask(s.token);
  const client = clientFor(s);
  const interrupt = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => interrupt.abort(signal));

  const started = Date.now();
  let ticket: Ticket = await client
    .queue(
      {
        repository: s.lock.repository,
        ...targetBody(s.target),
        leaseDurationSeconds: s.leaseSeconds,
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.waitTimeoutSeconds !== null ? { waitTimeoutSeconds: Math.ceil(s.waitTimeoutSeconds) } : {}),
        metadata: detectCiMetadata(),
      },
      `queue-mutex-action-${randomUUID()}`,
      { signal: interrupt.signal },
    )
    .catch((err) => {
      throw failure(err);
    });
  saveState(STATE.ticket, ticket.id);

  if (ticket.status !== 'acquired') {
    info(`Queued for ${targetName(s.lock.repository, s.target)} (ticket ${ticket.id})`);
    let last: { signature: string; at: number } | null = null;
    try {
      ticket = await waitForGrant(client, s.lock, ticket, {
        deadline: s.waitTimeoutSeconds === null ? undefined : started + s.waitTimeoutSeconds * 1_000,
        signal: interrupt.signal,
        onStatus: (status) => {
          const signature = waitSignature(status);
          if (last && last.signature === signature && Date.now() - last.at < REPEAT_MS) return;
          last = { signature, at: Date.now() };
          info(describeWait(status, client));
        },
      });
    } catch (err) {
      await endTicket(client, s.lock, ticket.id, warning);
      if (interrupt.signal.aborted) throw new ActionFailure(`cancelled while waiting for ${targetName(s.lock.repository, s.target)}; left the queue`);
      if (err instanceof WaitTimeoutError) {
        throw new ActionFailure(`gave up waiting for ${targetName(s.lock.repository, s.target)} after ${formatDuration(err.waitedMs)} (wait-timeout); left the queue`);
      }
      if (err instanceof TicketEndedError) throw new ActionFailure(err.message);
      throw failure(err);
    }
  }
  saveState(STATE.acquired, 'true');

  // The renewer outlives this step: detached, its output in a file (a pipe to the runner would
  // hold the step open), stopped by the post step.
  const log = join(process.env.RUNNER_TEMP || tmpdir(), `queue-mutex-renewer-${ticket.id}.log`);
  const fd = openSync(log, 'a', 0o600);
  const renewer = spawn(process.execPath, [join(__dirname, 'renewer.js')], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      [RENEWER_ENV.ticket]: JSON.stringify(ticket),
      [RENEWER_ENV.clockOffset]: String(client.clockOffset),
      [RENEWER_ENV.jobPid]: String(process.ppid),
    },
  });
  renewer.unref();
  saveState(STATE.renewerPid, String(renewer.pid));
  saveState(STATE.renewerLog, log);

  setOutput('ticket', ticket.id);
  setOutput('fencing-token', String(ticket.fencingToken ?? ''));
  setOutput('resources', JSON.stringify(ticket.resources));
  setOutput('fencing-tokens', JSON.stringify(ticket.fencingTokens));
  info(
    `Acquired ${s.lock.repository} ${ticket.resources.join('+')} after ${formatDuration(Date.now() - started)} (ticket ${ticket.id}, fencing token ${ticket.fencingToken}); ` +
      `the lease (${formatDuration(ticket.leaseDurationSeconds * 1_000)}) is renewed until the job ends`,
  );
});
