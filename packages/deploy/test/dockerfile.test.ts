import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildArgsOf, readCompose, servicesOf } from './support/compose.js';
import { dockerfileProblems, parseDockerfile, readDockerfile } from './support/dockerfile.js';
import { containersOf, isKustomization, nameOf } from './support/k8s.js';
import {
  DOCKERFILE,
  GATEWAY,
  asArray,
  deployedServices,
  dig,
  fromRoot,
  isYamlFile,
  listFiles,
  readYamlDocuments,
  servicesToDeploy,
} from './support/repo.js';

const services = deployedServices();
const compose = servicesOf(readCompose());
const deployments = listFiles(fromRoot('k8s'), (file) => isYamlFile(file) && !isKustomization(file))
  .flatMap(readYamlDocuments)
  .map((doc) => doc.value)
  .filter((value) => dig(value, 'kind') === 'Deployment');

/** The port a service listens on, as its Kubernetes Deployment declares it. */
function k8sPort(service: string): number | undefined {
  const deployment = deployments.find((value) => nameOf(value) === service);
  const port = asArray(containersOf(deployment)[0]?.ports)[0];
  const value = dig(port, 'containerPort');
  return typeof value === 'number' ? value : undefined;
}

describe('the Dockerfile', () => {
  it('is one, at the root, for every service the gateway knows: services/ holds none of its own', () => {
    const expected = servicesToDeploy();
    // Guards the derivation itself: an unreadable route table would make this pass vacuously.
    expect(expected).toEqual(expect.arrayContaining([GATEWAY, 'auth', 'patients']));
    expect(services.map((service) => service.name)).toEqual(expected);
    expect(existsSync(DOCKERFILE)).toBe(true);
    const own = readdirSync(fromRoot('services')).filter((name) => existsSync(fromRoot('services', name, 'Dockerfile')));
    expect(own).toEqual([]);
  });

  it.each(services.map((service) => [service.name, service] as const))(
    '%s, built with its build arguments in docker-compose.yml: multi-stage, non-root, production dependencies only, runs dist/main.js',
    (_name, service) => {
      const port = k8sPort(service.name);
      expect(port, 'container port in k8s').toBeDefined();
      const buildArgs = Object.fromEntries(buildArgsOf(compose[service.name]));
      expect(
        dockerfileProblems(readDockerfile(service.dockerfile, buildArgs), {
          service: service.name,
          hasDatabase: service.hasDatabase,
          port,
        }),
      ).toEqual([]);
    },
  );

  it('is not an image of any service without the SERVICE build argument', () => {
    const problems = dockerfileProblems(readDockerfile(DOCKERFILE), { service: 'patients', hasDatabase: true, port: 8080 });
    expect(problems).toContainEqual(expect.stringContaining('CMD must be the exec form'));
    expect(problems).toContainEqual(expect.stringContaining('WORKDIR must be the service'));
    expect(problems).toContainEqual(expect.stringContaining('the build stage must run the service'));
  });

  it('the build context leaves out installed dependencies, build output and local data', () => {
    const ignored = readFileSync(fromRoot('.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.data', '.nx', '.git', 'coverage']) {
      expect(
        ignored.some((line) => line === entry || line === `**/${entry}`),
        entry,
      ).toBe(true);
    }
  });
});

describe('the Dockerfile checks catch a broken Dockerfile', () => {
  it('a single-stage image', () => {
    const stages = parseDockerfile(
      ['FROM node:24.21.0-trixie-slim', 'WORKDIR /app', 'COPY . .', 'RUN npm install', 'CMD node services/patients/dist/main.js'].join(
        '\n',
      ),
    );
    expect(dockerfileProblems(stages, { service: 'patients', hasDatabase: true })).toEqual([
      'must be multi-stage: build tools and sources stay out of the runtime image',
    ]);
  });

  it('a multi-stage image on an unpinned Node 20, without USER, migrations or production-only dependencies', () => {
    const stages = parseDockerfile(
      [
        'ARG NODE=node:20-bookworm-slim',
        'FROM ${NODE} AS build',
        'RUN npm ci \\',
        ' && npx nx run @pep/patients:build',
        'FROM node:24-slim',
        'ENV NODE_ENV=production',
        'COPY --from=build /app ./',
        'WORKDIR /app/services/patients',
        'EXPOSE 3000',
        'CMD ["node", "dist/main.js"]',
      ].join('\n'),
    );
    expect(dockerfileProblems(stages, { service: 'patients', hasDatabase: true, port: 8080 })).toEqual([
      'stage build: base image must be Node 24 slim, pinned to a release (node:24.x.y-<debian>-slim), not node:20-bookworm-slim',
      'stage node:24-slim: base image must be Node 24 slim, pinned to a release (node:24.x.y-<debian>-slim), not node:24-slim',
      'runtime stage: no USER, so it runs as root',
      'runtime stage: exposes 3000 but the service listens on 8080',
      'production dependencies only: no npm ci/prune with --omit=dev',
      "production dependencies must be pruned to the service's own (node scripts/production-dependencies.mjs prune services/patients)",
      'the image must ship services/patients/prisma (the migrations migrate.js applies)',
    ]);
  });

  it('a runtime stage running as root with a shell-form CMD, outside the service folder', () => {
    const stages = parseDockerfile(
      [
        'FROM node:24.21.0-trixie-slim AS build',
        'ARG SERVICE',
        'RUN npm ci && npx nx run @pep/${SERVICE}:build && npm prune --omit=dev',
        'RUN node scripts/production-dependencies.mjs prune services/${SERVICE}',
        'FROM node:24.21.0-trixie-slim',
        'ARG PORT=3000',
        'ENV NODE_ENV=production PORT=${PORT}',
        'COPY --from=build /app ./',
        'WORKDIR /app',
        'USER root',
        'EXPOSE ${PORT}',
        'CMD node services/gateway/dist/main.js',
      ].join('\n'),
      { SERVICE: 'gateway' },
    );
    expect(dockerfileProblems(stages, { service: 'gateway', hasDatabase: false, port: 3000 })).toEqual([
      'runtime stage: USER root is root',
      'runtime stage: CMD must be the exec form ["node", <services/gateway/dist/main.js>] (so node receives SIGTERM)',
      "runtime stage: WORKDIR must be the service's folder (services/gateway), where its Jobs run dist/migrate.js",
    ]);
  });
});
