import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { EOL } from 'node:os';

/**
 * The few parts of the runner's protocol this action uses (inputs, outputs, state, log commands),
 * written out rather than taken from a toolkit package, so the bundle depends on nothing.
 */

/** An input as the runner passes it: INPUT_<NAME>, spaces as underscores, upper case. */
export function input(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

export function requiredInput(name: string): string {
  const value = input(name);
  if (!value) throw new ActionFailure(`input '${name}' is required`);
  return value;
}

export function setOutput(name: string, value: string): void {
  writeFileCommand('GITHUB_OUTPUT', name, value);
}

/** Saves a value for this action's post step, which reads it as STATE_<name>. */
export function saveState(name: string, value: string): void {
  writeFileCommand('GITHUB_STATE', name, value);
}

export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? '';
}

function writeFileCommand(variable: string, name: string, value: string): void {
  const file = process.env[variable];
  if (!file) throw new ActionFailure(`${variable} is not set: this runs as a step of a GitHub Actions job`);
  const delimiter = `ghadelimiter_${randomUUID()}`;
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8');
}

export function info(message: string): void {
  process.stdout.write(`${message}${EOL}`);
}

export function warning(message: string): void {
  process.stdout.write(`::warning::${escapeData(message)}${EOL}`);
}

export function error(message: string): void {
  process.stdout.write(`::error::${escapeData(message)}${EOL}`);
}

/** Asks the runner to hide this value wherever it would appear in the log. */
export function mask(secret: string): void {
  process.stdout.write(`::add-mask::${escapeData(secret)}${EOL}`);
}

function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A failure the step reports as an error annotation; the step fails. */
export class ActionFailure extends Error {}

/** Runs a step's body: an ActionFailure or any other error becomes one error line and exit code 1. */
export function runStep(body: () => Promise<void>): void {
  body().then(
    () => process.exit(process.exitCode ?? 0),
    (err: Error) => {
      error(err instanceof ActionFailure ? err.message : `queue-mutex: ${err?.message ?? String(err)}`);
      process.exit(1);
    },
  );
}
