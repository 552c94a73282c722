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

export interface ConfigVariable {
  name: string;
  /** Declared without `.optional()` or `.default(...)`: the process refuses to start without it. */
  required: boolean;
  /** Declared `.optional()`: absent means the feature it enables is off. */
  optional: boolean;
  /** Defaults to the empty string, so an empty value is valid (TOPIC_PREFIX); for most, empty fails the schema. */
  acceptsEmpty: boolean;
}

export interface DeployedService {
  name: string;
  /** Services with a Prisma schema own a database: they need migrations and a database URL. */
  hasDatabase: boolean;
  /** The Dockerfile its image is built from: the one at the root, told the service by `--build-arg SERVICE`. */
  dockerfile: string;
  /** The variables its config schema (services/<name>/src/config.ts) declares, on top of the shared ones. */
  config: ConfigVariable[];
}

/** The gateway is the public entry point; every other service sits behind it. */
export const GATEWAY = 'gateway';

/** The one Dockerfile every service's image is built from. */
export const DOCKERFILE = fromRoot('Dockerfile');

/**
 * Services that ship as their own image: every services/<name> the gateway knows (see
 * {@link servicesToDeploy}). Deriving the list from the repository means a new service is checked
 * as soon as the gateway routes to it.
 */
export function deployedServices(): DeployedService[] {
  return servicesToDeploy().map((name) => ({
    name,
    hasDatabase: existsSync(fromRoot('services', name, 'prisma', 'schema.prisma')),
    dockerfile: DOCKERFILE,
    config: configVariables(fromRoot('services', name, 'src', 'config.ts')),
  }));
}

/** The gateway's list of the platform's services (`SERVICES` in its route table). */
export function routedServices(file = fromRoot('services', GATEWAY, 'src', 'route-table.ts')): string[] {
  const list = /\bSERVICES\s*=\s*\[([^\]]*)\]/.exec(readFileSync(file, 'utf8'))?.[1] ?? '';
  return [...list.matchAll(/'([\w-]+)'|"([\w-]+)"/g)].map((match) => match[1] ?? match[2] ?? '');
}

/**
 * The services that must ship as an image: every services/<name> the gateway knows as a service.
 * (services/ also holds the all-in-one local runtime, which the gateway does not route to.)
 */
export function servicesToDeploy(): string[] {
  const routed = new Set(routedServices());
  return readdirSync(fromRoot('services'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && routed.has(entry.name))
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b));
}

/**
 * Names of variables whose values are credentials and so must come from a Secret. TOKEN only as
 * the last word (API_TOKEN), so settings about tokens such as ACCESS_TOKEN_TTL_SECONDS are not.
 */
export const SECRET_ENV_NAME = /^DATABASE_URL$|SECRET|PASSWORD|PASSWD|TOKEN$|API_KEY|PRIVATE_KEY|CREDENTIAL/;

/** A TypeScript source without its comments, so their words do not count as declarations. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
}

/**
 * The variables a zod config schema declares as object keys (`NAME: z....,`), read from its source.
 * A declaration runs to the next key; comments are dropped first so their words do not count.
 */
export function configVariables(file: string): ConfigVariable[] {
  if (!existsSync(file)) return [];
  return declaredVariables(withoutComments(readFileSync(file, 'utf8')));
}

/** The variables declared in a (comment-free) piece of schema source, shapes spread into it (`...kafkaConfigShape,`) included. */
function declaredVariables(text: string): ConfigVariable[] {
  const shared = sharedSchemaDeclarations();
  // A shape of the service kit spread into the schema declares its keys here too.
  const source = text.replace(/^([ \t]*)\.\.\.(\w+)\s*,?[ \t]*$/gm, (whole, _indent: string, name: string) => {
    const shape = /^\s*\{([\s\S]*)\}\s*$/.exec(shared.get(name) ?? '')?.[1];
    return shape ?? whole;
  });
  const keys = [...source.matchAll(/^[ \t]+([A-Z][A-Z0-9_]*)\s*:/gm)];
  return keys.map((match, i) => {
    const declaration = source.slice(match.index + match[0].length, keys[i + 1]?.index ?? source.length);
    // A key's declaration ends at the first top-level comma or the schema's closing brace.
    let own = /^[^\n]*?(?:,\s*$|\}\s*\))/m.exec(declaration)?.[0] ?? declaration;
    // A schema declared once and named here (`DATABASE_POOL_MAX: databasePoolMax,`) is read where it is defined.
    const named = /^\s*([a-z]\w*)\s*,?\s*$/.exec(own)?.[1];
    if (named) own = shared.get(named) ?? own;
    return {
      name: match[1] ?? '',
      required: !/\.optional\(\)|\.default\(/.test(own),
      optional: /\.optional\(\)/.test(own),
      acceptsEmpty: /\.default\((''|"")\)/.test(own),
    };
  });
}

/** The service kit's config sources: the base schema and the Kafka settings spread into it. */
const SERVICE_KIT_CONFIG = ['config.ts', 'kafka-config.ts'].map((file) => fromRoot('packages', 'service-kit', 'src', file));

/** Filled on first use: the files do not change during a run, and every schema read needs them. */
let sharedDeclarations: ReadonlyMap<string, string> | undefined;

/** `const name = ...;` schemas and shapes of the service kit's config (exported or not), which schemas reuse by name. */
function sharedSchemaDeclarations(): ReadonlyMap<string, string> {
  if (sharedDeclarations) return sharedDeclarations;
  const declarations = new Map<string, string>();
  for (const file of SERVICE_KIT_CONFIG) {
    const source = existsSync(file) ? withoutComments(readFileSync(file, 'utf8')) : '';
    for (const match of source.matchAll(/^(?:export )?const (\w+)(?::[^=\n]*)? = ([^;]*);/gm)) {
      declarations.set(match[1] ?? '', match[2] ?? '');
    }
  }
  sharedDeclarations = declarations;
  return declarations;
}

/** Variables every service process reads through the shared base schema (the Kafka settings spread into it included). */
export function sharedConfigVariables(): ConfigVariable[] {
  return configVariables(fromRoot('packages', 'service-kit', 'src', 'config.ts'));
}

/**
 * What a service's migration Job (`dist/migrate.js`) reads: the variables its `src/migrate.ts` takes from the
 * environment (the database) and those of the schema the topic declaration parses (`migrationConfigSchema` in
 * packages/db/src/topics.ts: Kafka, topic settings, NODE_ENV, LOG_LEVEL). Throws when that schema cannot be found, so
 * the check never passes on an empty list.
 */
export function migrationVariables(service: string): Set<string> {
  const topics = withoutComments(readFileSync(fromRoot('packages', 'db', 'src', 'topics.ts'), 'utf8'));
  const schema = /const migrationConfigSchema = z\s*\.object\(\{([\s\S]*?)\n\s*\}\)/.exec(topics)?.[1];
  if (!schema) throw new Error('packages/db/src/topics.ts: migrationConfigSchema not found; update migrationVariables');
  const entry = fromRoot('services', service, 'src', 'migrate.ts');
  const fromEntry = existsSync(entry)
    ? [...readFileSync(entry, 'utf8').matchAll(/process\.env(?:\[['"]([A-Z][A-Z0-9_]*)['"]\]|\.([A-Z][A-Z0-9_]*))/g)].map(
        (match) => match[1] ?? match[2] ?? '',
      )
    : [];
  return new Set([...declaredVariables(`\n${schema}\n`).map((variable) => variable.name), ...fromEntry]);
}

/** The runtime contract's variables: every service reads these, wherever it runs. */
const SERVICE_ENV = ['PORT', 'HOST', 'LOG_LEVEL', 'NODE_ENV', 'INTERNAL_AUTH_SECRET'];
const DATA_SERVICE_ENV = ['DATABASE_URL', 'KAFKA_BROKERS', 'KAFKA_CLIENT_ID', 'MIGRATE_ON_START'];
/**
 * Variables whose defaults only suit a workstation (links to localhost, mail into local files, a
 * localhost sender): a deployed service that reads one must have it set.
 */
const WORKSTATION_DEFAULTS = ['PUBLIC_URL', 'SMTP_URL', 'MAIL_FROM'];

/**
 * What a deployment must set for the service: the contract's variables, plus whatever its own
 * config schema requires, every credential it reads that has a default (so a Secret has to be
 * wired in rather than the default used) and the variables whose defaults only suit a
 * workstation. An optional credential without a default turns a feature on and may be left out.
 */
export function requiredEnv(service: DeployedService): string[] {
  const fromConfig = service.config
    .filter(
      (variable) =>
        variable.required || (SECRET_ENV_NAME.test(variable.name) && !variable.optional) || WORKSTATION_DEFAULTS.includes(variable.name),
    )
    .map((variable) => variable.name);
  return [
    ...new Set([
      ...SERVICE_ENV,
      ...(service.hasDatabase ? DATA_SERVICE_ENV : []),
      ...(service.name === GATEWAY ? ['UPSTREAMS'] : []),
      ...fromConfig,
    ]),
  ];
}

/**
 * Variables the service reads at all. A deployment setting anything else has a typo, or wires a
 * setting the service ignores.
 */
export function knownEnv(service: DeployedService): Set<string> {
  return new Set([...sharedConfigVariables(), ...service.config].map((variable) => variable.name));
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
