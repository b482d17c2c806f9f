import { endTicket, LeaseKeeper, Ticket } from '@queue-mutex/client';
import { clientFor, readSettings } from './action-settings';
import { RENEWER_ENV, RenewerEvent, renewerLine } from './renewer-protocol';

/** How often the renewer checks that the job it serves still runs. */
const JOB_CHECK_MS = 2_000;

/**
 * The detached process main leaves behind: renews the lease for the rest of the job. It stops on
 * the post step's SIGTERM, when the lease is lost (writing why, for post to report), or when the
 * job's runner process is gone without a post step (a crashed runner): then it releases the lock
 * itself rather than hold it for ever.
 */
async function renew(): Promise<void> {
  const s = readSettings();
  const ticket = JSON.parse(process.env[RENEWER_ENV.ticket] ?? '') as Ticket;
  const client = clientFor(s, Number(process.env[RENEWER_ENV.clockOffset]) || 0);
  const jobPid = Number(process.env[RENEWER_ENV.jobPid]);
  const write = (event: Omit<RenewerEvent, 'at'>) => process.stdout.write(renewerLine(event));
  let finishing = false;
  const finish = async (event: Omit<RenewerEvent, 'at'>, release: boolean) => {
    if (finishing) return;
    finishing = true;
    clearInterval(jobCheck);
    await keeper.stop();
    if (release) await endTicket(client, s.lock, ticket.id, (message) => write({ event: 'lost', message }));
    write(event);
    process.exit(0);
  };
  const keeper = new LeaseKeeper(client, s.lock, ticket, {
    onLost: (loss) => void finish({ event: 'lost', message: loss.message, releaseReason: loss.releaseReason }, false),
    onRenewed: (t) => write({ event: 'renewed', message: `lease until ${t.leaseExpiresAt}` }),
  }).start();
  const jobCheck = setInterval(() => {
    if (jobPid > 0 && !alive(jobPid)) void finish({ event: 'stopped', message: 'the job ended without its post step; released' }, true);
  }, JOB_CHECK_MS);
  process.once('SIGTERM', () => void finish({ event: 'stopped' }, false));
  write({ event: 'started', message: `renewing ticket ${ticket.id} every ~${Math.round(ticket.leaseDurationSeconds / 3)}s` });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

renew().catch((err: Error) => {
  process.stdout.write(renewerLine({ event: 'lost', message: `the renewer could not start: ${err.message}` }));
  process.exit(1);
});
