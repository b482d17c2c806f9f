import { hostname } from 'node:os';
import type { TicketMetadata } from './sfp-client';

/** What the service accepts in `metadata`. */
export const METADATA_LIMITS = { entries: 16, keyLength: 64, valueLength: 512 } as const;

type Env = Record<string, string | undefined>;

/**
 * Where this process runs, for the ticket's `metadata`: the CI run's URL (so owners can click
 * from a held lock to the run that holds it), commit, ref and job. Values that do not fit the
 * service's limits are trimmed, never refused: they are a courtesy, not the user's input.
 */
export function detectCiMetadata(env: Env = process.env): TicketMetadata {
  const found = github(env) ?? gitlab(env) ?? azure(env) ?? jenkins(env) ?? { host: hostname() };
  const metadata: TicketMetadata = {};
  for (const [key, value] of Object.entries(found)) {
    const clean = value === undefined ? '' : printable(value).slice(0, METADATA_LIMITS.valueLength);
    if (clean) metadata[key] = clean;
  }
  return metadata;
}

function github(env: Env): Record<string, string | undefined> | null {
  if (env.GITHUB_ACTIONS !== 'true') return null;
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const run = env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
  return {
    ci: 'github-actions',
    ciUrl: run,
    commit: env.GITHUB_SHA,
    ref: env.GITHUB_REF_NAME ?? env.GITHUB_REF,
    job: [env.GITHUB_WORKFLOW, env.GITHUB_JOB].filter(Boolean).join(' / ') || undefined,
  };
}

function gitlab(env: Env): Record<string, string | undefined> | null {
  if (env.GITLAB_CI !== 'true') return null;
  return {
    ci: 'gitlab',
    ciUrl: env.CI_JOB_URL,
    commit: env.CI_COMMIT_SHA,
    ref: env.CI_COMMIT_REF_NAME,
    job: env.CI_JOB_NAME,
  };
}

function azure(env: Env): Record<string, string | undefined> | null {
  if (!env.TF_BUILD || !env.BUILD_BUILDID) return null;
  const collection = env.SYSTEM_COLLECTIONURI?.replace(/\/+$/, '');
  const project = env.SYSTEM_TEAMPROJECT;
  return {
    ci: 'azure-pipelines',
    ciUrl: collection && project ? `${collection}/${encodeURIComponent(project)}/_build/results?buildId=${encodeURIComponent(env.BUILD_BUILDID)}` : undefined,
    commit: env.BUILD_SOURCEVERSION,
    ref: env.BUILD_SOURCEBRANCHNAME ?? env.BUILD_SOURCEBRANCH,
    job: env.SYSTEM_JOBDISPLAYNAME ?? env.AGENT_JOBNAME,
  };
}

function jenkins(env: Env): Record<string, string | undefined> | null {
  if (!env.JENKINS_URL && !env.BUILD_URL) return null;
  return {
    ci: 'jenkins',
    ciUrl: env.BUILD_URL,
    commit: env.GIT_COMMIT,
    ref: env.BRANCH_NAME ?? env.GIT_BRANCH,
    job: env.JOB_NAME && env.BUILD_NUMBER ? `${env.JOB_NAME} #${env.BUILD_NUMBER}` : env.JOB_NAME,
  };
}

/**
 * Parses `key=value` pairs given by a user and checks them against the service's limits;
 * returns the pairs, or a message naming what is wrong.
 */
export function parseMetadataPairs(pairs: string[]): { metadata: TicketMetadata } | { error: string } {
  const metadata: TicketMetadata = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return { error: `--meta '${pair}' must be key=value` };
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key.length > METADATA_LIMITS.keyLength) return { error: `--meta key '${key.slice(0, 20)}…' is longer than ${METADATA_LIMITS.keyLength} characters` };
    if (value.length > METADATA_LIMITS.valueLength) return { error: `--meta value of '${key}' is longer than ${METADATA_LIMITS.valueLength} characters` };
    if (printable(key) !== key || printable(value) !== value) return { error: `--meta '${key}' has characters that are not printable` };
    metadata[key] = value;
  }
  return { metadata };
}

/** Detected CI fields, overridden by the user's own; at most the service's number of entries. */
export function mergeMetadata(detected: TicketMetadata, given: TicketMetadata): { metadata: TicketMetadata } | { error: string } {
  if (Object.keys(given).length > METADATA_LIMITS.entries) return { error: `at most ${METADATA_LIMITS.entries} --meta pairs` };
  const metadata = { ...given };
  for (const [key, value] of Object.entries(detected)) {
    if (key in metadata) continue;
    if (Object.keys(metadata).length >= METADATA_LIMITS.entries) break;
    metadata[key] = value;
  }
  return { metadata };
}

/** Drops what the service refuses as unprintable: control characters (C0, DEL, C1), bidirectional overrides, lone surrogates. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '');
}
