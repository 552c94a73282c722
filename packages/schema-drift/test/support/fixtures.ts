import { fileURLToPath } from 'node:url';

/** Absolute path of a file or folder under packages/schema-drift/test/fixtures. */
export function fixturePath(...segments: string[]): string {
  return fileURLToPath(new URL(['../fixtures', ...segments].join('/'), import.meta.url));
}
