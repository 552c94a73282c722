import { describe, expect, it } from 'vitest';
import { productionClosure, readLockfile } from '../../../scripts/production-dependencies.mjs';
import { deployedServices, fromRoot } from './support/repo.js';

const { packages } = readLockfile(fromRoot());
const services = deployedServices();

/** Development tools and the embedded runtime's database: none of them may reach a service's image. */
const NOT_AT_RUN_TIME = [
  'node_modules/prisma',
  'node_modules/typescript',
  'node_modules/@prisma/internals',
  'node_modules/@electric-sql/pglite',
  'node_modules/pglite-prisma-adapter',
  'node_modules/@pep/testing',
  'node_modules/@pep/schema-drift',
  'node_modules/vitest',
  'node_modules/nx',
];

describe("a service image's production dependencies (scripts/production-dependencies.mjs)", () => {
  it.each(services.map((service) => [service.name, service] as const))(
    '%s: no Prisma CLI, TypeScript, Prisma internals, PGlite or test helpers',
    (name, service) => {
      const closure = productionClosure(packages, `services/${name}`);
      expect(NOT_AT_RUN_TIME.filter((location) => closure.has(location))).toEqual([]);
      // What it does run on is there, so the list above is not empty by accident.
      expect(closure).toContain('node_modules/fastify');
      expect(closure).toContain('packages/service-kit');
      if (service.hasDatabase) {
        expect(closure).toContain('node_modules/@prisma/client');
        expect(closure).toContain('node_modules/@prisma/adapter-pg');
        expect(closure).toContain('packages/db');
      }
    },
  );

  it('the embedded runtime, which does run on PGlite, keeps it', () => {
    const closure = productionClosure(packages, 'services/embedded');
    expect(closure).toContain('node_modules/@electric-sql/pglite');
    expect(closure).toContain('node_modules/pglite-prisma-adapter');
    expect(closure).not.toContain('node_modules/@prisma/internals');
  });
});

describe('productionClosure', () => {
  const lock = {
    '': {},
    'services/app': { dependencies: { lib: '^1.0.0', '@pep/db': '*' }, devDependencies: { tester: '^1.0.0' } },
    'packages/db': { dependencies: { client: '^1.0.0' } },
    'node_modules/@pep/db': { link: true, resolved: 'packages/db' },
    'node_modules/lib': { dependencies: { shared: '^2.0.0' }, optionalDependencies: { 'native-other-os': '1.0.0' } },
    'node_modules/lib/node_modules/shared': {},
    'node_modules/shared': {},
    'node_modules/client': {
      peerDependencies: { cli: '*', runtime: '*' },
      peerDependenciesMeta: { cli: { optional: true } },
    },
    'node_modules/runtime': {},
    'node_modules/cli': {},
    'node_modules/tester': {},
  };

  it('follows dependencies, links and required peers, resolving from the nearest node_modules', () => {
    expect([...productionClosure(lock, 'services/app')].sort()).toEqual([
      'node_modules/@pep/db',
      'node_modules/client',
      'node_modules/lib',
      'node_modules/lib/node_modules/shared',
      'node_modules/runtime',
      'packages/db',
      'services/app',
    ]);
  });

  it('leaves out devDependencies, optional peers and the hoisted copy nobody resolves to', () => {
    const closure = productionClosure(lock, 'services/app');
    for (const left of ['node_modules/tester', 'node_modules/cli', 'node_modules/shared']) expect(closure).not.toContain(left);
  });

  it('refuses a lockfile missing a required dependency, and an unknown workspace', () => {
    const broken = { ...lock, 'node_modules/runtime': undefined } as unknown as typeof lock;
    expect(() => productionClosure(broken, 'services/app')).toThrow(/node_modules\/client needs runtime/);
    expect(() => productionClosure(lock, 'services/nope')).toThrow(/not a workspace/);
  });
});
