import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  containersOf,
  podSpecOf,
  findRenderer,
  isKustomization,
  kustomizeLayoutProblems,
  nameOf,
  platformProblems,
  readReadme,
  referencedSecrets,
  resourceId,
  schemaProblems,
  workloadProblems,
} from './support/k8s.js';
import {
  SECRET_ENV_NAME,
  asString,
  deployedServices,
  dig,
  fromRoot,
  isYamlFile,
  knownEnv,
  listFiles,
  migrationVariables,
  readYamlDocuments,
  relativeToRoot,
  requiredEnv,
  servicesToDeploy,
  type Obj,
} from './support/repo.js';

const k8sDir = fromRoot('k8s');
const manifestFiles = listFiles(k8sDir, (file) => isYamlFile(file) && !isKustomization(file));
const docs = manifestFiles.flatMap(readYamlDocuments);
const values = docs.map((doc) => doc.value);
const baseValues = docs.filter((doc) => doc.source.startsWith('k8s/base/')).map((doc) => doc.value);
const services = deployedServices();
const overlays = readdirSync(path.join(k8sDir, 'overlays'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `k8s/overlays/${entry.name}`);

/** Everything the repository's manifests must satisfy, whether read from files or rendered. */
function allProblems(documents: unknown[]): string[] {
  return [...documents.flatMap(schemaProblems), ...documents.flatMap(workloadProblems), ...platformProblems(documents, services)];
}

function find(kind: string, name: string): Obj {
  const found = values.find((value) => dig(value, 'kind') === kind && nameOf(value) === name);
  if (!found) throw new Error(`${kind}/${name} not found in k8s/`);
  return structuredClone(found) as Obj;
}

describe('k8s/ manifests', () => {
  it('cover every service that has a Dockerfile', () => {
    expect(services.map((service) => service.name)).toEqual(servicesToDeploy());
    expect(docs.length).toBeGreaterThan(0);
  });

  it.each(docs.map((doc) => [`${doc.source} #${doc.index + 1} ${resourceId(doc.value)}`, doc.value]))(
    '%s matches its Kubernetes schema, with no unknown fields',
    (_label, value) => {
      expect(schemaProblems(value)).toEqual([]);
    },
  );

  it('every Deployment and Job container is probed, bounded, unprivileged and takes secrets from Secrets', () => {
    expect(values.filter((value) => containersOf(value).length > 0).length).toBeGreaterThanOrEqual(
      services.length + services.filter((service) => service.hasDatabase).length,
    );
    expect(values.flatMap(workloadProblems)).toEqual([]);
  });

  it('every Deployment has a Service, an autoscaler and a disruption budget; every database is migrated by a Job', () => {
    expect(platformProblems(values, services)).toEqual([]);
  });

  it('the kustomize layout includes every manifest and only names images and targets that exist', () => {
    expect(kustomizeLayoutProblems(k8sDir)).toEqual([]);
  });

  it('k8s/README.md tells the platform team about every Secret the manifests read', () => {
    const readme = readReadme();
    const secrets = referencedSecrets(values);
    expect(secrets.length).toBeGreaterThan(0);
    for (const { name, key } of secrets) {
      expect(readme, `Secret ${name} key ${key}`).toMatch(new RegExp(`\`${name}\`\\s*\\|\\s*\`${key}\``));
    }
  });
});

const renderer = findRenderer();

/** The tracing settings every Deployment reads from platform-config (k8s/README.md, Tracing). */
const TRACING = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG', 'OTEL_RESOURCE_ATTRIBUTES'];

// Rendering is always checked, never skipped: a machine that runs these tests has kubectl (or kustomize) on PATH.
describe(`k8s/ rendered (${renderer?.label ?? 'no kustomize available'})`, () => {
  it('has a kustomize to render with', () => {
    expect(renderer, 'kubectl or kustomize on PATH').toBeDefined();
  });

  it.each(['k8s/base', ...overlays])('%s renders, and every rendered document passes the same checks', (dir) => {
    const rendered = renderer!.render(fromRoot(dir)).map((doc) => doc.value);
    expect(rendered.length).toBeGreaterThan(0);
    expect(allProblems(rendered)).toEqual([]);
    // Files of the base left out of every kustomization would be missing here. An overlay may rename the namespace.
    const idOf = (doc: unknown): string => (dig(doc, 'kind') === 'Namespace' ? 'Namespace' : resourceId(doc));
    const renderedIds = new Set(rendered.map(idOf));
    expect(baseValues.map(idOf).filter((id) => !renderedIds.has(id))).toEqual([]);
  });

  it('every manifest, components included, is rendered by some overlay', () => {
    const renderedIds = new Set(
      ['k8s/base', ...overlays].flatMap((dir) => renderer!.render(fromRoot(dir)).map((doc) => resourceId(doc.value))),
    );
    expect(values.map(resourceId).filter((id) => !renderedIds.has(id))).toEqual([]);
  });

  it('production messaging needs Twilio; staging, without a vendor account, sends to the sink knowingly', () => {
    const smsSink = (dir: string): unknown => {
      const rendered = renderer!.render(fromRoot(dir)).map((doc) => doc.value);
      const messaging = rendered.find((doc) => resourceId(doc) === 'Deployment/messaging');
      const env = containersOf(messaging)[0]!.env as Obj[];
      expect(env.filter((entry) => String(entry.name).startsWith('TWILIO_'))).toHaveLength(3);
      return env.find((entry) => entry.name === 'SMS_SINK')?.value;
    };
    expect(smsSink('k8s/overlays/production')).toBeUndefined();
    expect(smsSink('k8s/overlays/staging')).toBe('true');
  });

  it.each(['k8s/base', ...overlays])('%s: every Deployment takes the tracing settings from platform-config, optionally', (dir) => {
    const rendered = renderer!.render(fromRoot(dir)).map((doc) => doc.value);
    const deployments = rendered.filter((doc) => dig(doc, 'kind') === 'Deployment');
    expect(deployments.map(nameOf).sort()).toEqual(servicesToDeploy());
    for (const deployment of deployments) {
      const env = containersOf(deployment)[0]!.env as Obj[];
      for (const name of TRACING) {
        // Optional: a key an overlay leaves out (the endpoint, in production) leaves the variable unset, tracing off.
        expect(
          dig(
            env.find((entry) => entry.name === name),
            'valueFrom',
          ),
          `${resourceId(deployment)} ${name}`,
        ).toEqual({
          configMapKeyRef: { name: 'platform-config', key: name, optional: true },
        });
      }
    }
  });

  it('staging sends every trace to its collector, production none until it names one; each names its environment', () => {
    const tracing = (dir: string): Obj => {
      const rendered = renderer!.render(fromRoot(dir)).map((doc) => doc.value);
      const data = dig(
        rendered.find((doc) => resourceId(doc) === 'ConfigMap/platform-config'),
        'data',
      ) as Obj;
      return Object.fromEntries(TRACING.filter((name) => name in data).map((name) => [name, data[name]]));
    };
    expect(tracing('k8s/base')).toEqual({});
    expect(tracing('k8s/overlays/production')).toEqual({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=production' });
    expect(tracing('k8s/overlays/staging')).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector.observability:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '1',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging',
    });
    // The sampler is one the service kit's schema accepts (an unknown one would stop every pod at start).
    expect(readFileSync(fromRoot('packages', 'service-kit', 'src', 'config.ts'), 'utf8')).toMatch(
      /OTEL_TRACES_SAMPLER: z\s*\.enum\(\[[^\]]*'parentbased_traceidratio'/,
    );
  });

  it.each(overlays)('%s pins every image to a registry and a tag other than latest', (dir) => {
    const rendered = renderer!.render(fromRoot(dir)).map((doc) => doc.value);
    const images = rendered.flatMap(containersOf).map((container) => asString(container.image) ?? '');
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      expect(image, image).toMatch(/^[^/]+\.[^/]+\/.+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/);
      expect(image, image).not.toMatch(/:latest$/);
    }
  });
});

describe('the manifest checks catch broken manifests', () => {
  const temporary: string[] = [];
  afterAll(() => {
    for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
  });

  it('a Deployment without probes', () => {
    const deployment = find('Deployment', 'patients');
    const container = containersOf(deployment)[0]!;
    delete container.readinessProbe;
    delete container.livenessProbe;
    const problems = workloadProblems(deployment);
    expect(problems).toContainEqual(expect.stringContaining('readinessProbe'));
    expect(problems).toContainEqual(expect.stringContaining('livenessProbe'));
  });

  it('a CronJob is held to the rules of the Jobs it makes (auth-operator)', () => {
    const cronJob = find('CronJob', 'auth-operator');
    expect(workloadProblems(cronJob)).toEqual([]);
    const pod = podSpecOf(cronJob)!;
    delete pod.automountServiceAccountToken;
    delete (containersOf(cronJob)[0]!.resources as Obj).limits;
    const problems = workloadProblems(cronJob);
    expect(problems).toContainEqual(expect.stringMatching(/^CronJob\/auth-operator: automountServiceAccountToken must be false/));
    expect(problems).toContainEqual(expect.stringContaining('limits'));
  });

  it('a misspelled field, which the schema alone accepts', () => {
    const deployment = find('Deployment', 'patients');
    const security = containersOf(deployment)[0]!.securityContext as Obj;
    security.readOnlyRootFilesytem = security.readOnlyRootFilesystem;
    delete security.readOnlyRootFilesystem;
    expect(schemaProblems(deployment)).toEqual([
      'Deployment/patients: unknown field spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem',
    ]);
    expect(workloadProblems(deployment)).toContainEqual(expect.stringContaining('readOnlyRootFilesystem must be true'));
  });

  it("a misspelled field in the operators' custom resources", () => {
    const monitor = find('ServiceMonitor', 'gateway');
    ((monitor.spec as Obj).endpoints as Obj[])[0]!.intervall = '30s';
    expect(schemaProblems(monitor)).toEqual(['ServiceMonitor/gateway: unknown field spec.endpoints[0].intervall']);
    const rule = find('PrometheusRule', 'patient-engagement');
    (((rule.spec as Obj).groups as Obj[])[0]!.rules as Obj[])[0]!.forr = '5m';
    expect(schemaProblems(rule)).toEqual(['PrometheusRule/patient-engagement: unknown field spec.groups[0].rules[0].forr']);
    const route = find('HTTPRoute', 'gateway');
    ((route.spec as Obj).parentRefs as Obj[])[0]!.sectionNam = 'https';
    expect(schemaProblems(route)).toEqual(['HTTPRoute/gateway: unknown field spec.parentRefs[0].sectionNam']);
    const secret = find('ExternalSecret', 'auth-db');
    ((secret.spec as Obj).target as Obj).creationPolicyy = 'Owner';
    expect(schemaProblems(secret)).toEqual(['ExternalSecret/auth-db: unknown field spec.target.creationPolicyy']);
  });

  it('a document that breaks the schema, and a kind with no known schema', () => {
    const deployment = find('Deployment', 'gateway');
    delete (deployment.spec as Obj).selector;
    expect(schemaProblems(deployment)).toContainEqual(expect.stringContaining('selector'));
    expect(schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([
      expect.stringContaining('no schema known'),
    ]);
  });

  it('secrets as literal values, root users and missing limits', () => {
    const job = find('Job', 'patients-migrate');
    const container = containersOf(job)[0]!;
    container.env = [{ name: 'DATABASE_URL', value: 'postgres://patients:hunter2@db:5432/patients' }];
    (container.securityContext as Obj).runAsUser = 0;
    delete (container.resources as Obj).limits;
    const problems = workloadProblems(job);
    expect(problems).toContainEqual(expect.stringContaining('DATABASE_URL must come from a secretKeyRef'));
    expect(problems).toContainEqual(expect.stringContaining('URL with credentials'));
    expect(problems).toContainEqual(expect.stringContaining('runAsUser must be 10001'));
    expect(problems).toContainEqual(expect.stringContaining('resources.limits.cpu is missing'));
  });

  it('a Deployment without its autoscaler, services without their migration Jobs', () => {
    const left = new Set(['HorizontalPodAutoscaler/gateway', 'Job/patients-migrate', 'Job/auth-migrate']);
    const remaining = values.filter((value) => !left.has(resourceId(value)));
    const problems = platformProblems(remaining, services);
    expect(problems).toContainEqual('Deployment/gateway: no HorizontalPodAutoscaler targets it');
    expect(problems).toContainEqual('service patients: no Job runs dist/migrate.js in its image (pep/patients)');
    expect(problems).toContainEqual('service auth: no Job runs dist/migrate.js in its image (pep/auth)');
  });

  it("a migration Job that runs another service's image", () => {
    const job = structuredClone(values.find((value) => resourceId(value) === 'Job/patients-migrate'));
    const container = containersOf(job)[0] as Obj;
    container.image = 'pep/scheduling';
    const others = values.filter((value) => resourceId(value) !== 'Job/patients-migrate');
    expect(platformProblems([...others, job], services)).toContainEqual(
      'service patients: no Job runs dist/migrate.js in its image (pep/patients)',
    );
  });

  it("auth's variables come from its config: the signing key secret is required and secret", () => {
    const auth = services.find((service) => service.name === 'auth');
    expect(auth?.hasDatabase).toBe(true);
    expect(requiredEnv(auth!)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'INTERNAL_AUTH_SECRET', 'SIGNING_KEY_SECRET', 'PUBLIC_URL', 'SMTP_URL']),
    );
    expect(SECRET_ENV_NAME.test('SIGNING_KEY_SECRET')).toBe(true);
    expect(SECRET_ENV_NAME.test('ACCESS_TOKEN_TTL_SECONDS')).toBe(false);
    expect(SECRET_ENV_NAME.test('API_TOKEN')).toBe(true);
  });

  it('auth with its signing key secret as a literal, or without it, or with a misspelled variable', () => {
    const literal = find('Deployment', 'auth');
    const env = containersOf(literal)[0]!.env as Obj[];
    const entry = env.find((candidate) => candidate.name === 'SIGNING_KEY_SECRET')!;
    delete entry.valueFrom;
    entry.value = 'a-literal-signing-key-secret-of-32-characters';
    expect(workloadProblems(literal)).toContainEqual(expect.stringContaining('SIGNING_KEY_SECRET must come from a secretKeyRef'));

    const missing = find('Deployment', 'auth');
    const container = containersOf(missing)[0]!;
    container.env = (container.env as Obj[])
      .filter((candidate) => candidate.name !== 'SIGNING_KEY_SECRET')
      .map((candidate) => (candidate.name === 'MAIL_FROM' ? { ...candidate, name: 'MAIL_SENDER' } : candidate));
    const others = values.filter((value) => resourceId(value) !== 'Deployment/auth');
    const problems = platformProblems([...others, missing], services);
    expect(problems).toContainEqual('Deployment/auth: SIGNING_KEY_SECRET is not set');
    expect(problems).toContainEqual("Deployment/auth: sets MAIL_SENDER, which auth's config does not read");
    expect(problems).toContainEqual('Deployment/auth: MAIL_FROM is not set');
  });

  it('messaging: Twilio is optional, all from one optional Secret; a required variable may not be optional', () => {
    const messaging = services.find((service) => service.name === 'messaging');
    expect(messaging?.hasDatabase).toBe(true);
    const required = requiredEnv(messaging!);
    expect(required).toEqual(expect.arrayContaining(['DATABASE_URL', 'PUBLIC_URL', 'SMTP_URL', 'MAIL_FROM']));
    expect(required.filter((name) => name.startsWith('TWILIO_'))).toEqual([]);

    // The service takes all of Twilio's settings or none, so they must appear and vanish together.
    const twilio = (containersOf(find('Deployment', 'messaging'))[0]!.env as Obj[])
      .filter((entry) => String(entry.name).startsWith('TWILIO_'))
      .map((entry) => dig(entry, 'valueFrom', 'secretKeyRef') as Obj);
    expect(twilio).toHaveLength(3);
    expect(new Set(twilio.map((ref) => `${String(ref.name)} ${String(ref.optional)}`))).toEqual(new Set(['messaging-twilio true']));

    const broken = find('Deployment', 'messaging');
    const env = containersOf(broken)[0]!.env as Obj[];
    const token = env.find((entry) => entry.name === 'TWILIO_AUTH_TOKEN')!;
    delete token.valueFrom;
    token.value = 'a-literal-twilio-auth-token';
    ((env.find((entry) => entry.name === 'DATABASE_URL')!.valueFrom as Obj).secretKeyRef as Obj).optional = true;
    expect(workloadProblems(broken)).toContainEqual(expect.stringContaining('TWILIO_AUTH_TOKEN must come from a secretKeyRef'));
    const others = values.filter((value) => resourceId(value) !== 'Deployment/messaging');
    expect(platformProblems([...others, broken], services)).toContainEqual(
      'Deployment/messaging: DATABASE_URL is required, so its reference must not be optional',
    );
  });

  it("the Kafka settings spread into the base schema are read, optional, and a migration Job's variables are known", () => {
    const gateway = services.find((service) => service.name === 'gateway')!;
    const known = knownEnv(gateway);
    for (const name of ['KAFKA_SSL', 'KAFKA_SASL_MECHANISM', 'KAFKA_OAUTH_CLIENT_SECRET', 'KAFKA_TOPIC_RETENTION_MS', 'METRICS_PORT']) {
      expect(known.has(name), name).toBe(true);
    }
    // Optional credentials turn SASL on; they must not become required for every deployment.
    expect(requiredEnv(gateway).filter((name) => name.startsWith('KAFKA_SASL') || name.startsWith('KAFKA_OAUTH'))).toEqual([]);
    const migration = migrationVariables('patients');
    expect([...migration]).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'KAFKA_BROKERS', 'TOPIC_PREFIX', 'KAFKA_SASL_PASSWORD', 'KAFKA_DLQ_RETENTION_MS']),
    );
    expect(migration.has('PORT')).toBe(false);
  });

  it('a migration Job that would declare topics elsewhere, or otherwise, than its service verifies them', () => {
    const job = find('Job', 'patients-migrate');
    const container = containersOf(job)[0]!;
    container.env = (container.env as Obj[])
      .filter((entry) => entry.name !== 'KAFKA_BROKERS')
      .map((entry) => (entry.name === 'KAFKA_TOPIC_PARTITIONS' ? { name: entry.name, value: '12' } : entry))
      .concat([{ name: 'KAFKA_SESSION_TIMEOUT_MS', value: '30000' }]);
    const others = values.filter((value) => resourceId(value) !== 'Job/patients-migrate');
    const problems = platformProblems([...others, job], services);
    expect(problems).toContainEqual('Job/patients-migrate: KAFKA_BROKERS is not set, but Deployment/patients sets it');
    expect(problems).toContainEqual('Job/patients-migrate: KAFKA_TOPIC_PARTITIONS must come from where Deployment/patients takes it');
    expect(problems).toContainEqual("Job/patients-migrate: sets KAFKA_SESSION_TIMEOUT_MS, which patients's migration does not read");
  });

  it('a Deployment without METRICS_PORT, or annotated with another port', () => {
    const gateway = find('Deployment', 'gateway');
    const container = containersOf(gateway)[0]!;
    container.env = (container.env as Obj[]).filter((entry) => entry.name !== 'METRICS_PORT');
    ((gateway.spec as Obj).template as { metadata: { annotations: Obj } }).metadata.annotations['prometheus.io/port'] = '3000';
    const others = values.filter((value) => resourceId(value) !== 'Deployment/gateway');
    const problems = platformProblems([...others, gateway], services);
    expect(problems).toContainEqual(
      'Deployment/gateway: METRICS_PORT must be 9464, the port named metrics, or /metrics stays on the API port',
    );
    expect(problems).toContainEqual('Deployment/gateway: the prometheus.io/port annotation must be 9464, the port named metrics');
  });

  it('an empty Kafka setting in platform-config, and a CA file outside every mounted volume', () => {
    const config = find('ConfigMap', 'platform-config');
    const data = config.data as Obj;
    data.KAFKA_SASL_MECHANISM = '';
    data.KAFKA_SSL = 'true';
    data.KAFKA_SSL_CA_FILE = '/etc/ssl/kafka/ca.crt';
    const others = values.filter((value) => resourceId(value) !== 'ConfigMap/platform-config');
    const problems = platformProblems([...others, config], services);
    expect(problems).toContainEqual(expect.stringMatching(/^Deployment\/gateway: KAFKA_SASL_MECHANISM resolves to an empty string/));
    expect(problems).toContainEqual(expect.stringMatching(/^Job\/auth-migrate: KAFKA_SASL_MECHANISM resolves to an empty string/));
    expect(problems).toContainEqual(
      'Deployment/billing: KAFKA_SSL_CA_FILE names /etc/ssl/kafka/ca.crt, which no volume mounted in the container holds',
    );
    // The empty prefix is valid (no prefix), and the CA where kafka-ca is mounted is found.
    expect(problems.filter((problem) => problem.includes('TOPIC_PREFIX'))).toEqual([]);
    data.KAFKA_SASL_MECHANISM = 'scram-sha-512';
    data.KAFKA_SSL_CA_FILE = '/etc/kafka-ca/ca.crt';
    expect(platformProblems([...others, config], services)).toEqual([]);
  });

  it('a mail relay URL with credentials in a ConfigMap, and a public URL without https', () => {
    const config = find('ConfigMap', 'platform-config');
    const data = config.data as Obj;
    data.SMTP_URL = 'smtp://mailer:hunter2@smtp.example.com:587';
    data.PUBLIC_URL = 'http://patient-engagement.example.com';
    const others = values.filter((value) => resourceId(value) !== 'ConfigMap/platform-config');
    const problems = platformProblems([...others, config], services);
    expect(problems).toContainEqual(expect.stringContaining('ConfigMap/platform-config: SMTP_URL holds a credential'));
    expect(problems).toContainEqual(expect.stringContaining('Deployment/auth: PUBLIC_URL must resolve to the https URL'));
  });

  it('a gateway that does not route to a service', () => {
    const gateway = find('Deployment', 'gateway');
    const env = containersOf(gateway)[0]!.env as Obj[];
    env.find((entry) => entry.name === 'UPSTREAMS')!.value = 'patients=http://patients:9999';
    const others = values.filter((value) => resourceId(value) !== 'Deployment/gateway');
    expect(platformProblems([...others, gateway], services)).toContainEqual(
      expect.stringContaining('UPSTREAMS URL for patients does not match a Service port'),
    );
  });

  it('a manifest no kustomization includes, and an overlay naming an unknown image', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'k8s-layout-'));
    temporary.push(root);
    const write = (file: string, text: string): void => {
      const target = path.join(root, file);
      rmSync(target, { force: true });
      writeFileSync(target, text);
    };
    const kustomization = (extra: string): string => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${extra}`;
    write('kustomization.yaml', kustomization('resources:\n  - config.yaml\nimages:\n  - name: pep/nonexistent\n    newTag: "1"\n'));
    write('config.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n');
    write('forgotten.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n');
    const problems = kustomizeLayoutProblems(root);
    expect(problems).toContainEqual(expect.stringContaining('forgotten.yaml: not listed in any kustomization'));
    expect(problems).toContainEqual(expect.stringContaining('image pep/nonexistent is not used'));
  });

  it('a component taken in as a resource, and one no overlay uses', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'k8s-layout-'));
    temporary.push(root);
    const write = (file: string, text: string): void => {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), text);
    };
    const component = 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - config.yaml\n';
    const config = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;
    write(
      'overlays/one/kustomization.yaml',
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../components/used\n',
    );
    write('components/used/kustomization.yaml', component);
    write('components/used/config.yaml', config('used'));
    write('components/unused/kustomization.yaml', component);
    write('components/unused/config.yaml', config('unused'));
    const problems = kustomizeLayoutProblems(root);
    expect(problems).toContainEqual(
      'overlays/one/kustomization.yaml: ../../components/used is a Component, so it belongs under components'.replace(
        /^/,
        `${relativeToRoot(root)}/`,
      ),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/components\/unused\/kustomization\.yaml: not included by any other kustomization/),
    );
  });
});
