import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import {
  GATEWAY,
  asArray,
  asString,
  dig,
  fromRoot,
  isObj,
  knownEnv,
  parseUpstreams,
  requiredEnv,
  type DeployedService,
  type Obj,
} from './repo.js';

export const composeFile = fromRoot('docker-compose.yml');

/** Compose honours YAML merge keys (`<<: *anchor`), so they are resolved here too. */
export function readCompose(file = composeFile): Obj {
  const value: unknown = parse(readFileSync(file, 'utf8'), { merge: true });
  if (!isObj(value)) throw new Error(`${file} is not a mapping`);
  return value;
}

let validator: ValidateFunction | undefined;

/** The compose-spec JSON schema, as published with the compose linter. */
function composeValidator(): ValidateFunction {
  if (validator) return validator;
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('dclint/package.json'));
  const schema = JSON.parse(readFileSync(path.join(packageDir, 'schemas', 'compose.schema.json'), 'utf8')) as Obj;
  // It names a draft-07 meta-schema URL that this validator does not resolve; draft-07 is its default.
  delete schema.$schema;
  // The published schema uses union types and type-less keywords, which strict mode rejects.
  validator = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false }).compile(schema);
  return validator;
}

export function composeSchemaProblems(compose: unknown): string[] {
  const validate = composeValidator();
  if (validate(compose)) return [];
  return (validate.errors ?? []).map(
    (error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'} ${JSON.stringify(error.params)}`,
  );
}

export function servicesOf(compose: Obj): Obj {
  const services = compose.services;
  return isObj(services) ? services : {};
}

/** Environment as a map, whichever of compose's two forms (map or KEY=value list) is used. */
export function environmentOf(service: unknown): Map<string, string> {
  const environment = dig(service, 'environment');
  const result = new Map<string, string>();
  if (Array.isArray(environment)) {
    for (const item of environment) {
      const [key, ...rest] = String(item).split('=');
      if (key) result.set(key, rest.join('='));
    }
  } else if (isObj(environment)) {
    for (const [key, value] of Object.entries(environment)) result.set(key, value === null ? '' : String(value));
  }
  return result;
}

/** A service's build arguments (`build.args`), whichever of compose's two forms (map or KEY=value list) is used. */
export function buildArgsOf(service: unknown): Map<string, string> {
  const args = dig(service, 'build', 'args');
  const result = new Map<string, string>();
  if (Array.isArray(args)) {
    for (const item of args) {
      const [key, ...rest] = String(item).split('=');
      if (key) result.set(key, rest.join('='));
    }
  } else if (isObj(args)) {
    for (const [key, value] of Object.entries(args)) result.set(key, value === null ? '' : String(value));
  }
  return result;
}

/** depends_on targets with their condition, from either the list or the map form. */
export function dependenciesOf(service: unknown): Map<string, string> {
  const dependsOn = dig(service, 'depends_on');
  if (Array.isArray(dependsOn)) return new Map(dependsOn.map((name) => [String(name), 'service_started']));
  if (!isObj(dependsOn)) return new Map();
  return new Map(Object.entries(dependsOn).map(([name, options]) => [name, asString(dig(options, 'condition')) ?? 'service_started']));
}

/**
 * How the compose file fits the repository and the runtime contract: every referenced path
 * exists, every dependency is a defined service that can report health when waited on, each
 * application service builds from the shared Dockerfile as itself, with the contract's variables, and the
 * gateway routes to all services.
 */
export function composeProblems(compose: Obj, services: DeployedService[], baseDir = path.dirname(composeFile)): string[] {
  const problems: string[] = [];
  const defined = servicesOf(compose);
  const namedVolumes = isObj(compose.volumes) ? compose.volumes : {};

  for (const [name, service] of Object.entries(defined)) {
    const where = `service ${name}`;
    if (!asString(dig(service, 'image')) && dig(service, 'build') === undefined) {
      problems.push(`${where}: needs an image or a build`);
    }
    if (!asString(dig(service, 'restart'))) problems.push(`${where}: has no restart policy`);
    if (!isObj(dig(service, 'healthcheck'))) problems.push(`${where}: has no healthcheck`);

    const build = dig(service, 'build');
    if (build !== undefined) {
      const context = path.resolve(baseDir, (isObj(build) ? asString(build.context) : asString(build)) ?? '.');
      const dockerfile = path.resolve(context, (isObj(build) ? asString(build.dockerfile) : undefined) ?? 'Dockerfile');
      if (!existsSync(context) || !statSync(context).isDirectory()) {
        problems.push(`${where}: build context ${path.relative(baseDir, context) || '.'} does not exist`);
      }
      if (!existsSync(dockerfile)) problems.push(`${where}: Dockerfile ${path.relative(baseDir, dockerfile)} does not exist`);
    }

    for (const [target, condition] of dependenciesOf(service)) {
      if (!(target in defined)) {
        problems.push(`${where}: depends on ${target}, which is not defined`);
      } else if (condition === 'service_healthy' && !isObj(dig(defined[target], 'healthcheck'))) {
        problems.push(`${where}: waits for ${target} to be healthy, but ${target} has no healthcheck`);
      }
    }

    for (const volume of asArray(dig(service, 'volumes'))) {
      const source = isObj(volume) ? asString(volume.source) : asString(volume)?.split(':')[0];
      if (!source) continue;
      if (source.startsWith('.') || source.startsWith('/')) {
        if (!existsSync(path.resolve(baseDir, source))) problems.push(`${where}: mounts ${source}, which does not exist`);
      } else if (!(source in namedVolumes)) {
        problems.push(`${where}: uses volume ${source}, which is not declared`);
      }
    }
  }

  for (const service of services) {
    const where = `service ${service.name}`;
    const definition = defined[service.name];
    if (!isObj(definition)) {
      problems.push(`${where}: missing from docker-compose.yml`);
      continue;
    }
    const build = definition.build;
    const context = path.resolve(baseDir, (isObj(build) ? asString(build.context) : asString(build)) ?? '.');
    const dockerfile = path.resolve(context, (isObj(build) ? asString(build.dockerfile) : undefined) ?? 'Dockerfile');
    if (dockerfile !== service.dockerfile) problems.push(`${where}: must build from the Dockerfile at the repository root`);
    if (context !== fromRoot()) problems.push(`${where}: the build context must be the repository root`);
    const serviceArg = buildArgsOf(definition).get('SERVICE');
    if (serviceArg !== service.name) {
      problems.push(`${where}: must build with the build argument SERVICE=${service.name} (has ${serviceArg ?? 'none'})`);
    }

    const environment = environmentOf(definition);
    const required = requiredEnv(service);
    for (const name of required) {
      if (!environment.get(name)) problems.push(`${where}: ${name} is not set`);
    }
    if (service.config.length > 0) {
      const known = knownEnv(service);
      for (const name of environment.keys()) {
        if (!known.has(name)) problems.push(`${where}: sets ${name}, which ${service.name}'s config does not read`);
      }
    }
    if (environment.get('NODE_ENV') !== 'production') problems.push(`${where}: NODE_ENV must be production`);
    if (environment.get('HOST') !== '0.0.0.0') problems.push(`${where}: HOST must be 0.0.0.0 inside a container`);
    if (service.hasDatabase && environment.get('MIGRATE_ON_START') !== 'true') {
      problems.push(`${where}: MIGRATE_ON_START must be "true" (compose has no migration Job)`);
    }
    // Whatever the service connects to at start (database, brokers, mail relay) must be up first.
    const dependencies = dependenciesOf(definition);
    const hosts = [
      hostOf(environment.get('DATABASE_URL')),
      hostOf(environment.get('SMTP_URL')),
      ...(environment.get('KAFKA_BROKERS') ?? '').split(',').map((broker) => broker.split(':')[0]),
    ];
    for (const needed of hosts) {
      if (needed && dependencies.get(needed) !== 'service_healthy') {
        problems.push(`${where}: must wait for ${needed} to be healthy`);
      }
    }
    const publicUrl = environment.get('PUBLIC_URL');
    const gatewayAddress = publishedAddress(defined[GATEWAY]);
    if (publicUrl !== undefined && gatewayAddress && publicUrl.replace(/\/$/, '') !== gatewayAddress) {
      problems.push(`${where}: PUBLIC_URL must be the gateway as published, ${gatewayAddress}`);
    }
    const stopGrace = asString(definition.stop_grace_period);
    const seconds = stopGrace ? Number(/^(\d+)s$/.exec(stopGrace)?.[1] ?? NaN) : NaN;
    if (!(seconds >= 25)) problems.push(`${where}: stop_grace_period must leave at least 25s to drain`);
  }

  const gateway = defined[GATEWAY];
  if (isObj(gateway)) {
    const upstreams = parseUpstreams(environmentOf(gateway).get('UPSTREAMS'));
    for (const service of services.filter((candidate) => candidate.name !== GATEWAY)) {
      const url = upstreams.get(service.name);
      const port = environmentOf(defined[service.name]).get('PORT');
      if (!url) problems.push(`service ${GATEWAY}: UPSTREAMS lacks ${service.name}`);
      else if (url !== `http://${service.name}:${port}`) {
        problems.push(`service ${GATEWAY}: UPSTREAMS must reach ${service.name} at http://${service.name}:${port}`);
      } else if (dependenciesOf(gateway).get(service.name) !== 'service_healthy') {
        problems.push(`service ${GATEWAY}: must wait for ${service.name} to be healthy`);
      }
    }
  }
  return problems;
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** http://localhost:<port> where the host reaches the gateway (its PORT, as published). */
function publishedAddress(gateway: unknown): string | undefined {
  const port = environmentOf(gateway).get('PORT');
  for (const mapping of asArray(dig(gateway, 'ports'))) {
    const parts = String(mapping).split(':');
    if (parts.length >= 2 && parts.at(-1) === port) return `http://localhost:${parts.at(-2) ?? ''}`;
  }
  return undefined;
}

/** The databases the compose Postgres creates on first start, from its init script. */
export function databasesCreatedBy(sql: string): string[] {
  return [...sql.matchAll(/^\s*CREATE\s+DATABASE\s+"?([\w-]+)"?/gim)].map((match) => match[1] ?? '');
}
