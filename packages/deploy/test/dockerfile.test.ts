import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dockerfileProblems, parseDockerfile, readDockerfile } from './support/dockerfile.js';
import { containersOf, isKustomization, nameOf } from './support/k8s.js';
import {
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

describe('service Dockerfiles', () => {
  it('exist for every service in services/ that the gateway knows (and only for those)', () => {
    const expected = servicesToDeploy();
    // Guards the derivation itself: an unreadable route table would make this pass vacuously.
    expect(expected).toEqual(expect.arrayContaining([GATEWAY, 'auth', 'patients']));
    expect(services.map((service) => service.name)).toEqual(expected);
  });

  it.each(services.map((service) => [service.name, service] as const))(
    '%s: multi-stage, non-root, runs dist/main.js',
    (_name, service) => {
      const port = k8sPort(service.name);
      expect(port, 'container port in k8s').toBeDefined();
      expect(
        dockerfileProblems(readDockerfile(service.dockerfile), {
          service: service.name,
          hasDatabase: service.hasDatabase,
          port,
        }),
      ).toEqual([]);
    },
  );

  it('the build context leaves out installed dependencies, build output and local data', () => {
    const ignored = readFileSync(fromRoot('.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.data', '.nx', '.git', 'coverage']) {
      expect(ignored.some((line) => line === entry || line === `**/${entry}`), entry).toBe(true);
    }
  });
});

describe('the Dockerfile checks catch a broken Dockerfile', () => {
  it('a single-stage image', () => {
    const stages = parseDockerfile(
      ['FROM node:20', 'WORKDIR /app', 'COPY . .', 'RUN npm install', 'CMD node services/patients/dist/main.js'].join('\n'),
    );
    expect(dockerfileProblems(stages, { service: 'patients', hasDatabase: true })).toEqual([
      'must be multi-stage: build tools and sources stay out of the runtime image',
    ]);
  });

  it('a multi-stage image without USER, migrations or production-only dependencies', () => {
    const stages = parseDockerfile(
      [
        'FROM node:20-bookworm-slim AS build',
        'RUN npm ci \\',
        ' && npx nx run @pep/patients:build',
        'FROM node:20-bookworm-slim',
        'ENV NODE_ENV=production',
        'COPY --from=build /app ./',
        'EXPOSE 3000',
        'CMD ["node", "services/patients/dist/main.js"]',
      ].join('\n'),
    );
    expect(dockerfileProblems(stages, { service: 'patients', hasDatabase: true, port: 8080 })).toEqual([
      'runtime stage: no USER, so it runs as root',
      'runtime stage: exposes 3000 but the service listens on 8080',
      'production dependencies only: no npm ci/prune with --omit=dev',
      'the image must ship services/patients/prisma (the migrations migrate.js applies)',
    ]);
  });

  it('a runtime stage running as root with a shell-form CMD', () => {
    const stages = parseDockerfile(
      [
        'FROM node:20-bookworm-slim AS build',
        'RUN npm ci && npx nx run @pep/gateway:build && npm prune --omit=dev',
        'FROM node:20-bookworm-slim',
        'ENV NODE_ENV=production',
        'COPY --from=build /app ./',
        'USER root',
        'EXPOSE 3000',
        'CMD node services/gateway/dist/main.js',
      ].join('\n'),
    );
    expect(dockerfileProblems(stages, { service: 'gateway', hasDatabase: false, port: 3000 })).toEqual([
      'runtime stage: USER root is root',
      'runtime stage: CMD must be the exec form ["node", "services/gateway/dist/main.js"] (so node receives SIGTERM)',
    ]);
  });
});
