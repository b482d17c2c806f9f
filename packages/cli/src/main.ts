import { SfpClient, SfpHttpError, SfpUnavailableError } from '@queue-mutex/client';
import { version } from '../package.json';
import { COMMANDS, CommandName, connectionOf, HELP, killGraceOf, lockOf, parseCommand, queueSettingsOf, ticketOf, duration } from './cli-options';
import { CliExit, EXIT, usageError } from './exit-codes';
import { runCommand } from './run-command';
import { listCommand, lockCommand, renewCommand, statusCommand, unlockCommand } from './ticket-commands';

/** Runs one CLI invocation and resolves with its exit code; every failure becomes a message and a code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    return await dispatch(argv, env);
  } catch (err) {
    const { code, lines } = describeFailure(err);
    process.stderr.write(`queue-mutex: ${lines.join('\n')}\n`);
    return code;
  }
}

async function dispatch(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' && isCommand(rest[0]) ? rest[0] : 'main';
    // Asked for: stdout. Given nothing to do: the usage is an error message.
    (first === undefined ? process.stderr : process.stdout).write(HELP[topic]);
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${version}\n`);
    return EXIT.OK;
  }
  if (!isCommand(first)) throw usageError(`unknown command '${first}'`);
  const command: CommandName = first;

  // `run`'s command follows `--`, and may have options of its own that are not ours.
  const split = command === 'run' ? rest.indexOf('--') : -1;
  const ours = split >= 0 ? rest.slice(0, split) : rest;
  const { values, positionals } = parseCommand(command, ours);
  if (values.help) {
    process.stdout.write(HELP[command]);
    return EXIT.OK;
  }
  if (positionals.length > 0) {
    throw usageError(command === 'run' ? `put the command after '--': queue-mutex run … -- ${positionals.join(' ')}` : `unexpected argument '${positionals[0]}'`, command);
  }
  const conn = connectionOf(values, env, command);
  const client = new SfpClient({ url: conn.url, token: conn.token, retryForMs: conn.retryForMs, userAgent: `queue-mutex-cli/${version}` });
  const out = { json: values.json === true, stdout: process.stdout };
  switch (command) {
    case 'run': {
      const cmd = split >= 0 ? rest.slice(split + 1) : [];
      if (cmd.length === 0) throw usageError("no command to run: give it after '--'", command);
      return runCommand({ connection: conn, queue: queueSettingsOf(values, env, command), killGraceSeconds: killGraceOf(values), command: cmd }, client);
    }
    case 'lock':
      return lockCommand(client, conn, queueSettingsOf(values, env, command), values.wait === true, out);
    case 'unlock':
      return unlockCommand(client, lockOf(values, command), ticketOf(values, command), out);
    case 'renew': {
      const lease = typeof values.lease === 'string' ? duration(values.lease, 'lease', command) : undefined;
      return renewCommand(client, lockOf(values, command), ticketOf(values, command), lease, out);
    }
    case 'status':
      return statusCommand(client, lockOf(values, command), ticketOf(values, command), out);
    case 'list':
      return listCommand(client, lockOf(values, command), out);
  }
}

function isCommand(name: string | undefined): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name ?? '');
}

/** sysexits.h for the CLI's own failures; the server's message wherever it gave one. */
function describeFailure(err: unknown): { code: number; lines: string[] } {
  if (err instanceof CliExit) return { code: err.code, lines: [err.message, ...(err.hint ? [err.hint] : [])] };
  if (err instanceof SfpUnavailableError) return { code: EXIT.UNAVAILABLE, lines: [err.message] };
  if (err instanceof SfpHttpError) {
    if (err.status === 401) return { code: EXIT.KEY_REFUSED, lines: [`the server refused the key (401): ${err.message}`] };
    if (err.status === 403) return { code: EXIT.KEY_REFUSED, lines: [`the key may not do this (403): ${err.message}`] };
    if (err.status === 400) return { code: EXIT.USAGE, lines: [`the server refused the request (400): ${err.message}`] };
    if (err.status === 404) return { code: EXIT.NOT_FOUND, lines: [`not found (404): ${err.message}`] };
    if (err.status === 409) return { code: EXIT.USAGE, lines: [`conflict (409): ${err.message}`] };
    return { code: EXIT.UNAVAILABLE, lines: [`the server answered ${err.status}: ${err.message}`] };
  }
  return { code: EXIT.SOFTWARE, lines: [`unexpected error: ${(err as Error)?.message ?? String(err)}`] };
}
