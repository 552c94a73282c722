import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeProblems, composeSchemaProblems, databasesCreatedBy, environmentOf, readCompose, servicesOf } from './support/compose.js';
import { isKustomization, nameOf } from './support/k8s.js';
import { asArray, deployedServices, dig, fromRoot, isObj, isYamlFile, listFiles, readYamlDocuments, type Obj } from './support/repo.js';

const compose = readCompose();
const services = deployedServices();
const k8sDeployments = listFiles(fromRoot('k8s'), (file) => isYamlFile(file) && !isKustomization(file))
  .flatMap(readYamlDocuments)
  .map((doc) => doc.value)
  .filter((value) => dig(value, 'kind') === 'Deployment')
  .map((value) => nameOf(value) ?? '');

function broken(mutate: (services: Obj) => void): Obj {
  const copy = structuredClone(compose);
  mutate(servicesOf(copy));
  return copy;
}

describe('docker-compose.yml', () => {
  it('validates against the compose-spec schema', () => {
    expect(composeSchemaProblems(compose)).toEqual([]);
  });

  it('references only paths, services and volumes that exist, and wires every service by the runtime contract', () => {
    expect(composeProblems(compose, services)).toEqual([]);
  });

  it('has a counterpart for every Deployment in k8s/', () => {
    expect(k8sDeployments.length).toBeGreaterThan(0);
    expect(k8sDeployments.filter((name) => !(name in servicesOf(compose)))).toEqual([]);
  });

  it('runs Postgres, Kafka and a mail catcher next to the services', () => {
    const images = Object.values(servicesOf(compose)).map((service) => String(dig(service, 'image')));
    expect(images).toEqual(
      expect.arrayContaining([expect.stringMatching(/^postgres:15/), 'apache/kafka:3.9.1', expect.stringMatching(/^axllent\/mailpit:/)]),
    );
    expect(asArray(dig(servicesOf(compose), 'gateway', 'ports'))).toContain('3000:3000');
  });

  it("creates each service's database in the Postgres init script it mounts", () => {
    const postgres = Object.values(servicesOf(compose)).find((service) => String(dig(service, 'image')).startsWith('postgres:'));
    const mount = asArray(dig(postgres, 'volumes'))
      .map(String)
      .find((volume) => volume.includes('/docker-entrypoint-initdb.d/'));
    expect(mount, 'init script mount').toBeDefined();
    const script = path.resolve(path.dirname(fromRoot('docker-compose.yml')), mount!.split(':')[0]!);
    const databases = databasesCreatedBy(readFileSync(script, 'utf8'));
    for (const service of services.filter((candidate) => candidate.hasDatabase)) {
      const url = new URL(environmentOf(servicesOf(compose)[service.name]).get('DATABASE_URL') ?? '');
      expect(databases).toContain(service.name);
      expect(url.pathname).toBe(`/${service.name}`);
    }
  });
});

describe('the compose checks catch a broken compose file', () => {
  it('a misspelled key and a wrongly typed value fail the schema', () => {
    const bad = broken((defined) => {
      const patients = defined.patients as Obj;
      patients.depend_on = patients.depends_on;
      delete patients.depends_on;
      (defined.gateway as Obj).ports = 3000;
    });
    const problems = composeSchemaProblems(bad);
    expect(problems).toContainEqual(expect.stringContaining('depend_on'));
    expect(problems).toContainEqual(expect.stringContaining('/services/gateway/ports'));
  });

  it('a dependency on an undefined service, a missing Dockerfile and a missing mount', () => {
    const bad = broken((defined) => {
      // A service nothing defines (a typo, or one removed from the file).
      (defined.gateway as Obj).depends_on = { invoicing: { condition: 'service_healthy' } };
      ((defined.patients as Obj).build as Obj).dockerfile = 'services/patients/Dockerfile.missing';
      ((defined.auth as Obj).build as Obj).args = { SERVICE: 'patients' };
      const postgres = defined.postgres as Obj;
      postgres.volumes = [...asArray(postgres.volumes), './nowhere/init.sql:/docker-entrypoint-initdb.d/99.sql:ro'];
    });
    expect(composeSchemaProblems(bad)).toEqual([]);
    const problems = composeProblems(bad, services);
    expect(problems).toContainEqual('service gateway: depends on invoicing, which is not defined');
    expect(problems).toContainEqual(expect.stringContaining('Dockerfile services/patients/Dockerfile.missing does not exist'));
    expect(problems).toContainEqual('service patients: must build from the Dockerfile at the repository root');
    expect(problems).toContainEqual('service auth: must build with the build argument SERVICE=auth (has patients)');
    expect(problems).toContainEqual(expect.stringContaining('mounts ./nowhere/init.sql'));
    expect(problems).toContainEqual('service gateway: must wait for patients to be healthy');
    expect(problems).toContainEqual('service gateway: must wait for auth to be healthy');
  });

  it('auth without its signing key secret or mail relay, starting before the mail catcher, with a misspelled variable', () => {
    const bad = broken((defined) => {
      const auth = defined.auth as Obj;
      const environment = auth.environment as Obj;
      delete environment.SIGNING_KEY_SECRET;
      environment.ACCESS_TOKEN_TTL = environment.ACCESS_TOKEN_TTL_SECONDS;
      delete environment.ACCESS_TOKEN_TTL_SECONDS;
      environment.PUBLIC_URL = 'http://localhost:8080';
      delete (auth.depends_on as Obj).mailpit;
    });
    const problems = composeProblems(bad, services);
    expect(problems).toContainEqual('service auth: SIGNING_KEY_SECRET is not set');
    expect(problems).toContainEqual('service auth: must wait for mailpit to be healthy');
    expect(problems).toContainEqual("service auth: sets ACCESS_TOKEN_TTL, which auth's config does not read");
    expect(problems).toContainEqual('service auth: PUBLIC_URL must be the gateway as published, http://localhost:3000');

    const noMail = broken((defined) => {
      delete ((defined.auth as Obj).environment as Obj).SMTP_URL;
    });
    expect(composeProblems(noMail, services)).toContainEqual('service auth: SMTP_URL is not set');
  });

  it('a service missing from compose, and contract variables left out', () => {
    const bad = broken((defined) => {
      delete defined.gateway;
      const environment = dig(defined, 'patients', 'environment');
      if (isObj(environment)) {
        delete environment.DATABASE_URL;
        environment.MIGRATE_ON_START = 'false';
      }
    });
    const problems = composeProblems(bad, services);
    expect(problems).toContainEqual('service gateway: missing from docker-compose.yml');
    expect(problems).toContainEqual('service patients: DATABASE_URL is not set');
    expect(problems).toContainEqual(expect.stringContaining('MIGRATE_ON_START must be "true"'));
  });
});
