import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual, promisify } from 'node:util';
import { committedDocument, fetchServedDocument, REGENERATE_COMMAND, TYPES_PATH } from '../scripts/openapi-document';
import { startCluster, TestCluster } from './support/test-app';

/** Where two JSON values first differ, as a JSON pointer, for a failure that says what moved. */
function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (isDeepStrictEqual(a, b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      if (found !== null) return found;
    }
  }
  return at || '/';
}

/**
 * The typed client is generated from a committed copy of the service's OpenAPI document. These
 * fail as soon as the service serves anything else, so the client cannot drift from the server.
 */
describe('the committed OpenAPI document and client types', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster(1);
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
  });

  it('packages/client/openapi.json is what a running instance serves at /docs-json', async () => {
    const served = await fetchServedDocument(cluster.url);
    const where = firstDifference(committedDocument(), served);
    if (where !== null) {
      throw new Error(`packages/client/openapi.json differs from what the service serves (first at ${where}): run \`${REGENERATE_COMMAND}\` and commit the result`);
    }
  });

  it('the client types are openapi-typescript\'s rendering of that document', async () => {
    // The generator runs under Node (its dependencies are ESM-only), as `npm run openapi` runs it.
    const render = "const d = require('./scripts/openapi-document'); d.renderTypes(d.committedDocument()).then((t) => process.stdout.write(t))";
    const { stdout: expected } = await promisify(execFile)(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', render], {
      cwd: join(__dirname, '..'),
      maxBuffer: 16 * 1024 * 1024,
    });
    if (readFileSync(TYPES_PATH, 'utf8') !== expected) {
      throw new Error(`${TYPES_PATH} is not generated from packages/client/openapi.json: run \`${REGENERATE_COMMAND}\` and commit the result`);
    }
  });
});
