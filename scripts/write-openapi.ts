// Writes the OpenAPI document the service serves, and the client's types generated from it.
// Boots one real instance on a throwaway database and Redis prefix (PostgreSQL and Redis as for
// the tests), so the file is exactly what /docs-json answers, not a second rendering of the code.
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { startCluster } from '../test/support/test-app';
import { DOCUMENT_PATH, TYPES_PATH, documentText, fetchServedDocument, renderTypes } from './openapi-document';

async function main(): Promise<void> {
  process.env.LOG_LEVEL = 'silent';
  const cluster = await startCluster(1);
  let doc: Record<string, unknown>;
  try {
    doc = await fetchServedDocument(cluster.url);
  } finally {
    await cluster.close();
  }
  writeFileSync(DOCUMENT_PATH, documentText(doc));
  writeFileSync(TYPES_PATH, await renderTypes(doc));
  for (const file of [DOCUMENT_PATH, TYPES_PATH]) console.log(`wrote ${relative(process.cwd(), file)}`);
}

main().catch((err: Error) => {
  console.error(`openapi: ${err.message}`);
  process.exit(1);
});
