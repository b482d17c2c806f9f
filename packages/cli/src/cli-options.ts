import { parseArgs, ParseArgsConfig } from 'node:util';
import { detectCiMetadata, LockRef, mergeMetadata, parseDuration, parseMetadataPairs, QueueTarget, targetLock, TicketMetadata } from '@queue-mutex/client';
import { usageError } from './exit-codes';

export const COMMANDS = ['run', 'lock', 'unlock', 'renew', 'status', 'list'] as const;
export type CommandName = (typeof COMMANDS)[number];

type Options = NonNullable<ParseArgsConfig['options']>;

const CONNECTION: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  'retry-timeout': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
};
const LOCK: Options = { repository: { type: 'string', short: 'r' }, resource: { type: 'string' } };
/** What a new ticket asks for: one or more resources (repeat --resource), or members of a pool. */
const TARGET: Options = { repository: { type: 'string', short: 'r' }, resource: { type: 'string', multiple: true }, pool: { type: 'string' }, count: { type: 'string' } };
const QUEUE: Options = {
  lease: { type: 'string' },
  'wait-timeout': { type: 'string' },
  reason: { type: 'string' },
  meta: { type: 'string', multiple: true },
  'idempotency-key': { type: 'string' },
};
const TICKET: Options = { ticket: { type: 'string' } };
const JSON_OUTPUT: Options = { json: { type: 'boolean' } };

export const COMMAND_OPTIONS: Record<CommandName, Options> = {
  run: { ...CONNECTION, ...TARGET, ...QUEUE, 'kill-grace': { type: 'string' } },
  lock: { ...CONNECTION, ...TARGET, ...QUEUE, wait: { type: 'boolean' }, ...JSON_OUTPUT },
  unlock: { ...CONNECTION, ...LOCK, ...TICKET, ...JSON_OUTPUT },
  renew: { ...CONNECTION, ...LOCK, ...TICKET, lease: { type: 'string' }, ...JSON_OUTPUT },
  status: { ...CONNECTION, ...LOCK, ...TICKET, ...JSON_OUTPUT },
  list: { ...CONNECTION, ...LOCK, ...JSON_OUTPUT },
};

export const DEFAULT_LEASE_SECONDS = 15 * 60;
const DEFAULT_RETRY_TIMEOUT_SECONDS = 30;
const DEFAULT_KILL_GRACE_SECONDS = 10;

export interface Connection {
  url: string;
  token: string;
  retryForMs: number;
  quiet: boolean;
}

export interface QueueSettings {
  /** The path the ticket answers under (its first resource, or its pool). */
  lock: LockRef;
  target: QueueTarget;
  leaseSeconds: number;
  waitTimeoutSeconds: number | null;
  reason: string | undefined;
  metadata: TicketMetadata;
  idempotencyKey: string | undefined;
}

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** Parses one command's options strictly: an unknown option or a missing value is a usage error. */
export function parseCommand(command: CommandName, argv: string[]): { values: ParsedValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: COMMAND_OPTIONS[command], strict: true, allowPositionals: true });
    return { values: values as ParsedValues, positionals };
  } catch (err) {
    throw usageError(shortParseError(err as Error), command);
  }
}

/** node:util's messages, without their advice on positionals that starts with '-'. */
function shortParseError(err: Error): string {
  return err.message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, '');
}

export function connectionOf(values: ParsedValues, env: NodeJS.ProcessEnv, command: CommandName): Connection {
  const url = str(values.url) ?? env.QUEUE_MUTEX_URL;
  const token = str(values.token) ?? env.QUEUE_MUTEX_TOKEN;
  if (!url) throw usageError('no server: give --url or set QUEUE_MUTEX_URL', command);
  if (!token) throw usageError('no API key: give --token or set QUEUE_MUTEX_TOKEN', command);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`--url '${url}' is not a URL`, command);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`--url '${url}' must start with http:// or https://`, command);
  const retryTimeout = str(values['retry-timeout']) ?? env.QUEUE_MUTEX_RETRY_TIMEOUT;
  return {
    url: parsed.toString().replace(/\/+$/, ''),
    token,
    retryForMs: (retryTimeout === undefined ? DEFAULT_RETRY_TIMEOUT_SECONDS : duration(retryTimeout, 'retry-timeout', command)) * 1_000,
    quiet: values.quiet === true,
  };
}

export function lockOf(values: ParsedValues, command: CommandName): LockRef {
  const repository = str(values.repository);
  const resource = str(values.resource);
  if (!repository?.trim()) throw usageError('--repository is required (e.g. --repository flxbl-io/sf-core)', command);
  if (!resource?.trim()) throw usageError('--resource is required (e.g. --resource uat)', command);
  return { repository, resource };
}

/** --resource (repeated for several, all locked at once) or --pool with --count. */
export function targetOf(values: ParsedValues, command: CommandName): { lock: LockRef; target: QueueTarget } {
  const repository = str(values.repository);
  if (!repository?.trim()) throw usageError('--repository is required (e.g. --repository flxbl-io/sf-core)', command);
  const resources = ((values.resource as string[] | undefined) ?? []).filter((r) => r.trim() !== '');
  const pool = str(values.pool);
  const count = str(values.count);
  if (pool !== undefined && resources.length > 0) throw usageError('give --resource or --pool, not both', command);
  let target: QueueTarget;
  if (pool !== undefined) {
    if (!pool.trim()) throw usageError('--pool must name a pool', command);
    const n = count === undefined ? 1 : Number(count);
    if (!Number.isInteger(n) || n < 1) throw usageError(`--count '${count}' must be a whole number of at least 1`, command);
    target = { pool, count: n };
  } else {
    if (count !== undefined) throw usageError('--count goes with --pool', command);
    if (resources.length === 0) throw usageError('--resource is required (e.g. --resource uat), or --pool', command);
    if (new Set(resources).size !== resources.length) throw usageError('--resource names the same resource twice', command);
    target = { resources };
  }
  return { lock: targetLock(repository, target), target };
}

export function ticketOf(values: ParsedValues, command: CommandName): string {
  const ticket = str(values.ticket);
  if (!ticket?.trim()) throw usageError('--ticket is required (the id that lock printed)', command);
  return ticket.trim();
}

export function queueSettingsOf(values: ParsedValues, env: NodeJS.ProcessEnv, command: CommandName): QueueSettings {
  const lease = str(values.lease);
  const waitTimeout = str(values['wait-timeout']);
  const given = parseMetadataPairs((values.meta as string[] | undefined) ?? []);
  if ('error' in given) throw usageError(given.error, command);
  const merged = mergeMetadata(detectCiMetadata(env), given.metadata);
  if ('error' in merged) throw usageError(merged.error, command);
  const idempotencyKey = str(values['idempotency-key']);
  if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 200)) {
    throw usageError('--idempotency-key must be 1-200 characters', command);
  }
  return {
    ...targetOf(values, command),
    leaseSeconds: lease === undefined ? DEFAULT_LEASE_SECONDS : duration(lease, 'lease', command),
    waitTimeoutSeconds: waitTimeout === undefined ? null : duration(waitTimeout, 'wait-timeout', command),
    reason: str(values.reason),
    metadata: merged.metadata,
    idempotencyKey,
  };
}

export function killGraceOf(values: ParsedValues): number {
  const grace = str(values['kill-grace']);
  return grace === undefined ? DEFAULT_KILL_GRACE_SECONDS : duration(grace, 'kill-grace', 'run');
}

export function duration(text: string, option: string, command: CommandName): number {
  const seconds = parseDuration(text);
  if (seconds === null) throw usageError(`--${option} '${text}' is not a duration (seconds, or e.g. 90s, 15m, 2h)`, command);
  return seconds;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const CONNECTION_HELP = `
Connection (every command):
  --url URL              the service (or QUEUE_MUTEX_URL)
  --token KEY            an API key of role owner or application (or QUEUE_MUTEX_TOKEN;
                         the variable keeps it out of process listings)
  --retry-timeout DUR    how long to retry an unreachable or overloaded server (30s)
  -q, --quiet            no progress lines, only errors`;

const QUEUE_HELP = `
  -r, --repository R     the repository, e.g. flxbl-io/sf-core
  --resource X           the resource inside it, e.g. uat; repeat it to lock several at
                         once (all or none, in one queue place: no deadlock)
  --pool P [--count N]   instead: N (1) free members of the pool P, the one free the longest first
  --lease DUR            lease once granted (15m)
  --wait-timeout DUR     give up waiting after this long (exit 75); default: wait
  --reason TEXT          shown to others while you hold or wait
  --meta KEY=VALUE       extra ticket metadata (repeatable); the CI run's URL, commit,
                         ref and job are added from the environment
  --idempotency-key K    the same key returns the same ticket (default: a new one)`;

export const HELP: Record<CommandName | 'main', string> = {
  main: `Usage: queue-mutex <command> [options]

Runs pipeline steps under a queue-mutex lock: strict FIFO, leases renewed while you hold them.

Commands:
  run      queue, wait your turn, run a command holding the lock, release when it exits
  lock     queue for a lock (and with --wait, wait for it); prints the ticket id
  unlock   release a ticket, or leave the queue
  renew    extend a held ticket's lease
  status   show one ticket
  list     show a lock's holder, queue and recent tickets

Durations are seconds or 90s, 15m, 2h, 1h30m.
Exit codes: 64 usage, 69 server unreachable, 75 gave up waiting, 76 lease lost, 77 key refused;
run exits with the command's own code.

'queue-mutex <command> --help' tells more.
${CONNECTION_HELP}
`,
  run: `Usage: queue-mutex run --repository R (--resource X [--resource Y...] | --pool P [--count N]) [options] -- command [args...]

Queues for the lock, waits its turn (telling the queue position and who holds the lock),
runs the command holding the lock, renews the lease while it runs, and releases when it ends.
The command gets QUEUE_MUTEX_TICKET, QUEUE_MUTEX_FENCING_TOKEN and QUEUE_MUTEX_LEASE_EXPIRES_AT.
${QUEUE_HELP}
  --kill-grace DUR       if the lease is lost: SIGTERM, then SIGKILL after this long (10s)
${CONNECTION_HELP}

Exit code: the command's own; 128+n if signal n ended it. SIGINT, SIGTERM and SIGHUP are passed
to the command, then the lock is released (130, 143, 129); while waiting they leave the queue.
64 usage, 69 server unreachable, 75 gave up waiting, 76 lease lost (the command was stopped),
77 key refused, 127 command not found.
`,
  lock: `Usage: queue-mutex lock --repository R (--resource X... | --pool P [--count N]) [--wait] [options]

Queues a ticket and prints its id on stdout (the whole ticket with --json). With --wait, waits
until it is granted (exit 75 after --wait-timeout, leaving the queue). The lease is not renewed:
use renew, or run, which does.
${QUEUE_HELP}
  --wait                 wait for the grant
  --json                 print the ticket as JSON
${CONNECTION_HELP}
`,
  unlock: `Usage: queue-mutex unlock --repository R --resource X --ticket ID

Releases a held ticket (the next waiter is granted at once) or leaves the queue.
Exit 76 if the ticket had already ended (its lease was lost).

  -r, --repository R     the repository
  --resource X           the resource
  --ticket ID            the ticket
  --json                 print the ticket as JSON
${CONNECTION_HELP}
`,
  renew: `Usage: queue-mutex renew --repository R --resource X --ticket ID [--lease DUR]

Extends a held ticket's lease from now (by --lease, or its own lease length).
Exit 76 if the ticket no longer holds the lock.

  -r, --repository R     the repository
  --resource X           the resource
  --ticket ID            the ticket
  --lease DUR            the new lease length
  --json                 print the ticket as JSON
${CONNECTION_HELP}
`,
  status: `Usage: queue-mutex status --repository R --resource X --ticket ID [--json]

Shows one ticket: its state, queue position, lease and where it came from.

  -r, --repository R     the repository
  --resource X           the resource
  --ticket ID            the ticket
  --json                 print the ticket as JSON
${CONNECTION_HELP}
`,
  list: `Usage: queue-mutex list --repository R --resource X [--json]

Shows the holder, then the queue in order, then recently released tickets.

  -r, --repository R     the repository
  --resource X           the resource
  --json                 print the tickets as JSON
${CONNECTION_HELP}
`,
};
