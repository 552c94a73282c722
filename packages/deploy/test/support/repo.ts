import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export function fromRoot(...parts: string[]): string {
  return path.join(repoRoot, ...parts);
}

export function relativeToRoot(file: string): string {
  return path.relative(repoRoot, file).split(path.sep).join('/');
}

export interface DeployedService {
  name: string;
  /** Services with a Prisma schema own a database: they need migrations and a database URL. */
  hasDatabase: boolean;
  dockerfile: string;
}

/** The gateway is the public entry point; every other service sits behind it. */
export const GATEWAY = 'gateway';

/**
 * Services that ship as their own image, i.e. every services/<name> with a Dockerfile. Deriving
 * the list from the repository means a new service is checked as soon as its Dockerfile exists.
 */
export function deployedServices(): DeployedService[] {
  return readdirSync(fromRoot('services'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(fromRoot('services', entry.name, 'Dockerfile')))
    .map((entry) => ({
      name: entry.name,
      hasDatabase: existsSync(fromRoot('services', entry.name, 'prisma', 'schema.prisma')),
      dockerfile: fromRoot('services', entry.name, 'Dockerfile'),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The runtime contract's variables: every service reads these, wherever it runs. */
const SERVICE_ENV = ['PORT', 'HOST', 'LOG_LEVEL', 'NODE_ENV', 'INTERNAL_AUTH_SECRET'];
const DATA_SERVICE_ENV = ['DATABASE_URL', 'KAFKA_BROKERS', 'KAFKA_CLIENT_ID', 'MIGRATE_ON_START'];

export function requiredEnv(service: DeployedService): string[] {
  return [
    ...SERVICE_ENV,
    ...(service.hasDatabase ? DATA_SERVICE_ENV : []),
    ...(service.name === GATEWAY ? ['UPSTREAMS'] : []),
  ];
}

/** Parses the gateway's UPSTREAMS (`name=url,name=url`). */
export function parseUpstreams(value: string | undefined): Map<string, string> {
  const upstreams = new Map<string, string>();
  for (const item of (value ?? '').split(',')) {
    const [name, url] = item.split('=', 2).map((part) => part.trim());
    if (name && url) upstreams.set(name, url);
  }
  return upstreams;
}

export function listFiles(dir: string, accept: (file: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listFiles(full, accept));
    else if (accept(full)) found.push(full);
  }
  return found.sort();
}

export function isYamlFile(file: string): boolean {
  return /\.ya?ml$/.test(file);
}

export interface YamlDoc {
  /** Where the document came from, for messages: a repository path or a rendering's name. */
  source: string;
  index: number;
  value: unknown;
}

/** Every non-empty document of a (multi-document) YAML text; a syntax error throws. */
export function parseYamlDocuments(text: string, source: string): YamlDoc[] {
  const docs: YamlDoc[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    const [error] = doc.errors;
    if (error) throw new Error(`${source} (document ${index + 1}): ${error.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) docs.push({ source, index, value });
  });
  return docs;
}

export function readYamlDocuments(file: string): YamlDoc[] {
  return parseYamlDocuments(readFileSync(file, 'utf8'), relativeToRoot(file));
}

export type Obj = Record<string, unknown>;

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a path of keys through plain objects; undefined as soon as one is missing. */
export function dig(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isObj(current)) return undefined;
    current = current[key];
  }
  return current;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
