import { formatDuration, SfpClient, Ticket } from '@queue-mutex/client';

type Clock = Pick<SfpClient, 'serverNow'>;

/** How long a ticket has held, waited, or since it ended. */
function age(t: Ticket, clock: Clock): string {
  const since = t.status === 'acquired' ? t.leaseStart : t.status === 'queued' ? t.createdAt : t.releasedAt;
  return since ? formatDuration(clock.serverNow() - Date.parse(since)) : '';
}

function state(t: Ticket): string {
  return t.status === 'released' ? (t.releaseReason ?? 'released') : t.status;
}

/** One ticket in a sentence, for people. */
export function describeTicket(t: Ticket, clock: Clock): string {
  const where = `${t.repository} ${t.resource}`;
  const parts = [`ticket ${t.id} on ${where}: ${state(t)}`];
  if (t.status === 'queued') parts.push(`position ${t.queuePosition}, waiting ${age(t, clock)}`);
  if (t.status === 'acquired') parts.push(`held ${age(t, clock)}, fencing token ${t.fencingToken}, lease until ${t.leaseExpiresAt}`);
  if (t.status === 'released') parts.push(`${age(t, clock)} ago`);
  parts.push(`by ${t.requestedBy.name}`);
  if (t.reason) parts.push(`reason: ${t.reason}`);
  for (const [key, value] of Object.entries(t.metadata ?? {})) parts.push(`${key}: ${value}`);
  return parts.join('; ');
}

/** Holder, queue and recent tickets as a table; the CI run's URL last, so it can be clicked. */
export function ticketTable(tickets: Ticket[], clock: Clock): string {
  const rows = tickets.map((t) => [
    t.status === 'queued' ? String(t.queuePosition ?? '') : t.status === 'acquired' ? 'held' : '-',
    state(t),
    t.id,
    t.fencingToken === null ? '' : String(t.fencingToken),
    t.requestedBy.name,
    age(t, clock),
    oneLine(t.reason ?? ''),
    t.metadata?.ciUrl ?? '',
  ]);
  const header = ['POS', 'STATE', 'TICKET', 'FENCE', 'BY', 'FOR', 'REASON', 'CI'];
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 40 ? `${flat.slice(0, 39)}…` : flat;
}
