import { lockName, LockRef, SfpClient, SfpHttpError, Ticket } from '@queue-mutex/client';
import { Connection, QueueSettings } from './cli-options';
import { CliExit, EXIT } from './exit-codes';
import { ProgressReporter } from './progress-reporter';
import { queueAndWait, SIGNALS } from './ticket-session';
import { describeTicket, ticketTable } from './ticket-table';

export interface Output {
  json: boolean;
  stdout: NodeJS.WriteStream;
}

function print(out: Output, ticket: Ticket | Ticket[], text: string): void {
  out.stdout.write(out.json ? `${JSON.stringify(ticket, null, 2)}\n` : text);
}

/** `lock`: queue; with --wait, wait for the grant (a signal leaves the queue). Prints the ticket id (or the ticket). */
export async function lockCommand(client: SfpClient, conn: Connection, q: QueueSettings, wait: boolean, out: Output): Promise<number> {
  const progress = new ProgressReporter(process.stderr, client, conn.quiet);
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => interrupt.abort(signal);
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const queued = await queueAndWait(client, q, wait, interrupt.signal, progress);
    if ('exitCode' in queued) return queued.exitCode;
    progress.info(describeTicket(queued.ticket, client));
    print(out, queued.ticket, `${queued.ticket.id}\n`);
    return EXIT.OK;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

/** `unlock`: release, or leave the queue. 76 if it had already ended. */
export async function unlockCommand(client: SfpClient, lock: LockRef, ticketId: string, out: Output): Promise<number> {
  const ticket = await ended(() => client.release(lock, ticketId));
  print(out, ticket, `released ticket ${ticket.id} (${ticket.releaseReason})\n`);
  return EXIT.OK;
}

/** `renew`: extend a held lease. 76 if the ticket no longer holds the lock. */
export async function renewCommand(client: SfpClient, lock: LockRef, ticketId: string, leaseSeconds: number | undefined, out: Output): Promise<number> {
  const ticket = await ended(() => client.renew(lock, ticketId, leaseSeconds));
  print(out, ticket, `renewed ticket ${ticket.id}: lease until ${ticket.leaseExpiresAt}\n`);
  return EXIT.OK;
}

export async function statusCommand(client: SfpClient, lock: LockRef, ticketId: string, out: Output): Promise<number> {
  const ticket = await client.status(lock, ticketId);
  print(out, ticket, `${describeTicket(ticket, client)}\n`);
  return EXIT.OK;
}

export async function listCommand(client: SfpClient, lock: LockRef, out: Output): Promise<number> {
  const tickets = await client.list(lock);
  print(out, tickets, tickets.length === 0 ? `${lockName(lock)}: no tickets\n` : ticketTable(tickets, client));
  return EXIT.OK;
}

/** A call on a ticket that must still be live: its 409 (or 404) is a lost lease. */
async function ended(call: () => Promise<Ticket>): Promise<Ticket> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SfpHttpError && (err.status === 409 || err.status === 404)) throw new CliExit(EXIT.LEASE_LOST, err.message);
    throw err;
  }
}
