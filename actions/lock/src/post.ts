import { existsSync, readFileSync } from 'node:fs';
import { formatDuration, lockName, SfpHttpError } from '@queue-mutex/client';
import { ActionFailure, getState, info, mask, runStep, warning } from './action-runtime';
import { clientFor, failure, readSettings, STATE } from './action-settings';
import { RenewerEvent } from './renewer-protocol';

/**
 * The post step, run after the job's steps whatever their outcome (post-if: always()): stops the
 * renewer, then releases the lock, or leaves the queue if main never got it. A lease lost while
 * the job ran fails this step, so the job shows it.
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
  const renewerPid = Number(getState(STATE.renewerPid));
  if (renewerPid > 0) await stopRenewer(renewerPid);
  const events = renewerEvents(getState(STATE.renewerLog));
  const lost = events.find((e) => e.event === 'lost');
  const renewals = events.filter((e) => e.event === 'renewed').length;

  const client = clientFor(s);
  try {
    const ticket = await client.release(s.lock, ticketId);
    const held = ticket.leaseStart ? ` after holding it ${formatDuration(Date.parse(ticket.releasedAt ?? '') - Date.parse(ticket.leaseStart))}, ${renewals} renewal(s)` : '';
    info(acquired ? `Released ${lockName(s.lock)}${held}.` : `Left the queue for ${lockName(s.lock)} (ticket ${ticketId}).`);
  } catch (err) {
    if (!(err instanceof SfpHttpError && err.status === 409)) throw failure(err);
    if (!acquired) {
      info(`Ticket ${ticketId} had already ended (${err.releaseReason}).`);
      return;
    }
    throw new ActionFailure(
      `the lease on ${lockName(s.lock)} was lost while the job ran (${err.releaseReason})${lost?.message ? `: ${lost.message}` : ''}; ` +
        'later steps ran without the lock',
    );
  }
  if (lost) warning(`the renewer reported: ${lost.message}`);
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
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
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
