import { existsSync, readFileSync } from 'node:fs';
import { formatDuration, lockName, SfpHttpError, Ticket } from '@queue-mutex/client';
import { ActionFailure, getState, info, mask, runStep } from './action-runtime';
import { clientFor, failure, readSettings, STATE } from './action-settings';
import { RenewerEvent } from './renewer-protocol';

/**
 * The post step, run after the job's steps whatever their outcome (post-if: always()): releases
 * the lock, or leaves the queue if main never got it, and stops the renewer. A lease lost while
 * the job ran fails this step, so the job shows it, with the renewer's account of it.
 */
runStep(async () => {
  const ticketId = getState(STATE.ticket);
  if (!ticketId) {
    info('No ticket was queued: nothing to release.');
    return;
  }
  const s = readSettings();
  mask(s.token);
  const acquired = getState(STATE.acquired) === 'true';
  // Release first, the renewer still renewing: stopping it first could let a short lease run out in between.
  const client = clientFor(s);
  const released: Ticket | Error = await client.release(s.lock, ticketId).catch((err: Error) => err);
  const renewerPid = Number(getState(STATE.renewerPid));
  if (renewerPid > 0) await stopRenewer(renewerPid);

  if (!(released instanceof Error)) {
    const held = released.leaseStart ? ` after holding it ${formatDuration(Date.parse(released.releasedAt ?? '') - Date.parse(released.leaseStart))}` : '';
    info(acquired ? `Released ${lockName(s.lock)}${held}.` : `Left the queue for ${lockName(s.lock)} (ticket ${ticketId}).`);
    return;
  }
  if (!(released instanceof SfpHttpError && released.status === 409)) throw failure(released);
  if (!acquired) {
    info(`Ticket ${ticketId} had already ended (${released.releaseReason}).`);
    return;
  }
  const lost = renewerEvents(getState(STATE.renewerLog)).find((e) => e.event === 'lost');
  throw new ActionFailure(
    `the lease on ${lockName(s.lock)} was lost while the job ran (${released.releaseReason})${lost?.message ? `: ${lost.message}` : ''}; ` +
      'later steps ran without the lock',
  );
});

/** SIGTERM, and wait for it to go (SIGKILL after 5 s); only if the pid is still the renewer. */
async function stopRenewer(pid: number): Promise<void> {
  const cmdline = `/proc/${pid}/cmdline`;
  if (process.platform === 'linux' && (!existsSync(cmdline) || !readFileSync(cmdline, 'utf8').includes('renewer.js'))) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // gone already
  }
  for (let waited = 0; waited < 5_000; waited += 50) {
    if (exited(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * Gone, or exited and not yet reaped: the renewer was detached, so once main has gone its parent
 * is the runner's init, which may take its time to reap it. A zombie still answers signal 0.
 */
function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  if (process.platform !== 'linux') return false;
  try {
    // The state follows the parenthesised command name, which may itself contain ') '.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function renewerEvents(log: string): RenewerEvent[] {
  if (!log || !existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as RenewerEvent;
      } catch {
        return null;
      }
    })
    .filter((e): e is RenewerEvent => e !== null);
}
