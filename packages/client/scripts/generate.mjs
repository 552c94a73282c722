/* global fetch -- Node's, as in every supported release */
// Generates the client's types from the platform's merged OpenAPI document. The document comes from the embedded
// runtime started in this process on throwaway PGlite databases and loopback ports (no network, no broker), served by the
// gateway exactly as production merges it. A document that does not generate fails here; one that generates types the
// wrapper cannot compile against fails the build's `tsc` right after.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { startPlatform } from '@pep/embedded';

const out = fileURLToPath(new URL('../src/generated/', import.meta.url));
const dataDir = await mkdtemp(join(tmpdir(), 'pep-client-'));
let document;
try {
  const platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', clock: () => new Date() });
  try {
    const response = await fetch(`${platform.url}/api/docs/json`);
    if (response.status !== 200)
      throw new Error(`the gateway answered ${response.status} for the merged document: ${await response.text()}`);
    document = await response.json();
  } finally {
    await platform.stop();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

// A client method per operation needs a name per operation.
const unnamed = Object.entries(document.paths).flatMap(([path, operations]) =>
  Object.entries(operations)
    .filter(([, operation]) => typeof operation.operationId !== 'string')
    .map(([method]) => `${method.toUpperCase()} ${path}`),
);
if (unnamed.length > 0) throw new Error(`operations without an operationId: ${unnamed.join(', ')}`);

await mkdir(out, { recursive: true });
await writeFile(join(out, 'openapi.json'), `${JSON.stringify(document, null, 2)}\n`);
const types = astToString(await openapiTS(document, { alphabetize: true }));
await writeFile(join(out, 'schema.ts'), `// Generated from openapi.json by scripts/generate.mjs; do not edit.\n${types}`);
process.stdout.write(`client: ${Object.keys(document.paths).length} paths, ${Object.keys(document.components.schemas).length} schemas\n`);
