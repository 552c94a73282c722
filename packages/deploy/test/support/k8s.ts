import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ExternalSecret } from '@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import {
  GATEWAY,
  SECRET_ENV_NAME,
  knownEnv,
  migrationVariables,
  parseUpstreams,
  sharedConfigVariables,
  requiredEnv,
  asArray,
  asString,
  dig,
  fromRoot,
  isObj,
  isYamlFile,
  listFiles,
  parseYamlDocuments,
  readYamlDocuments,
  relativeToRoot,
  type DeployedService,
  type Obj,
  type YamlDoc,
} from './repo.js';

interface Validating {
  validate(): void;
}
interface ModelClass {
  new (data: never): Validating;
  prototype: Validating;
}

/**
 * The kinds the manifests may use. Anything else fails instead of being skipped, so a new kind
 * is validated from the day it is added (add its model here).
 */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  // Custom resources of the operators the components use, from the CRDs' own schemas.
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'external-secrets.io/v1beta1/ExternalSecret': ExternalSecret,
};

export function resourceId(doc: unknown): string {
  return `${asString(dig(doc, 'kind')) ?? '?'}/${asString(dig(doc, 'metadata', 'name')) ?? '?'}`;
}

export function nameOf(doc: unknown): string | undefined {
  return asString(dig(doc, 'metadata', 'name'));
}

/**
 * Paths of fields the schema does not define. The generated validators read every property their
 * schema knows, so a proxy that records those reads tells which keys of the document nothing
 * looked at: misspellings such as `readinesProbe`, which Kubernetes would silently drop.
 */
function unknownFields(model: ModelClass, doc: Obj): string[] {
  const read = new WeakMap<object, Set<string>>();
  const track = (value: unknown): unknown => {
    if (typeof value !== 'object' || value === null) return value;
    let keys = read.get(value);
    if (!keys) {
      keys = new Set();
      read.set(value, keys);
    }
    const seen = keys;
    return new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === 'string') seen.add(key);
        return track(Reflect.get(target, key, receiver));
      },
    });
  };
  // An instance rather than the plain document: some models' validate() finds its schema through the prototype
  // (the CRD packages built on an older base). The constructor copies every key, unknown ones included.
  const subject = new model(doc as never) as unknown as Obj;
  try {
    model.prototype.validate.call(track(subject));
  } catch {
    // Schema violations are reported by the plain validation; here only the reads matter.
  }
  const unknown: string[] = [];
  const walk = (value: unknown, at: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${at}[${i}]`));
      return;
    }
    if (!isObj(value)) return;
    const seen = read.get(value);
    // Never reached by the validator: it sits under a key already reported as unknown.
    if (!seen) return;
    for (const [key, child] of Object.entries(value)) {
      const where = at ? `${at}.${key}` : key;
      if (seen.has(key)) walk(child, where);
      else unknown.push(where);
    }
  };
  walk(subject, '');
  return unknown;
}

/** Schema validation by apiVersion and kind, plus fields the schema does not know. */
export function schemaProblems(doc: unknown): string[] {
  if (!isObj(doc)) return ['document is not a mapping'];
  const apiVersion = asString(doc.apiVersion);
  const kind = asString(doc.kind);
  if (!apiVersion || !kind) return ['document has no apiVersion or kind'];
  const id = resourceId(doc);
  const model = MODELS[`${apiVersion}/${kind}`];
  if (!model) return [`${id}: no schema known for ${apiVersion} ${kind}; register its model before using it`];
  const problems: string[] = [];
  if (!nameOf(doc)) problems.push(`${id}: metadata.name is missing`);
  try {
    new model(doc as never).validate();
  } catch (error) {
    problems.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const field of unknownFields(model, doc)) problems.push(`${id}: unknown field ${field}`);
  return problems;
}

const RUN_AS_USER = 10001;
const PROBE_PATHS = { startupProbe: '/health/live', livenessProbe: '/health/live', readinessProbe: '/health/ready' };
/** Drain (~20 s) plus the preStop pause must fit before Kubernetes kills the pod. */
const MIN_GRACE_SECONDS = 25;
const CREDENTIALS_IN_URL = /\/\/[^/\s:@]+:[^/\s@]+@/;

/** The object holding a workload's pod template: its spec, or a CronJob's job template spec. */
function templateHolderOf(doc: unknown): unknown {
  return dig(doc, 'kind') === 'CronJob' ? dig(doc, 'spec', 'jobTemplate', 'spec') : dig(doc, 'spec');
}

export function podSpecOf(doc: unknown): Obj | undefined {
  const spec = dig(templateHolderOf(doc), 'template', 'spec');
  return isObj(spec) ? spec : undefined;
}

export function containersOf(doc: unknown): Obj[] {
  const pod = podSpecOf(doc);
  return [...asArray(pod?.initContainers), ...asArray(pod?.containers)].filter(isObj);
}

export function podLabelsOf(doc: unknown): Obj {
  const labels = dig(templateHolderOf(doc), 'template', 'metadata', 'labels');
  return isObj(labels) ? labels : {};
}

function isWorkload(doc: unknown): boolean {
  const kind = dig(doc, 'kind');
  // A CronJob is checked as the Jobs it makes (e.g. auth-operator, run on demand with kubectl create job --from).
  return kind === 'Deployment' || kind === 'Job' || kind === 'CronJob';
}

function portMatches(port: unknown, container: Obj): boolean {
  return asArray(container.ports).some((declared) => dig(declared, 'name') === port || dig(declared, 'containerPort') === port);
}

/** The rules every Deployment and Job container must meet (other kinds yield nothing). */
export function workloadProblems(doc: unknown): string[] {
  if (!isWorkload(doc)) return [];
  const id = resourceId(doc);
  const pod = podSpecOf(doc);
  if (!pod) return [`${id}: has no pod template`];
  const problems: string[] = [];
  const isDeployment = dig(doc, 'kind') === 'Deployment';
  const podSecurity = isObj(pod.securityContext) ? pod.securityContext : {};

  if (pod.automountServiceAccountToken !== false) {
    problems.push(`${id}: automountServiceAccountToken must be false (no service calls the Kubernetes API)`);
  }
  if (isDeployment) {
    const grace = pod.terminationGracePeriodSeconds;
    if (typeof grace !== 'number' || grace < MIN_GRACE_SECONDS) {
      problems.push(`${id}: terminationGracePeriodSeconds must be at least ${MIN_GRACE_SECONDS}`);
    }
  } else {
    const spec = templateHolderOf(doc);
    if (typeof dig(spec, 'backoffLimit') !== 'number') problems.push(`${id}: backoffLimit is missing`);
    if (typeof dig(spec, 'ttlSecondsAfterFinished') !== 'number') {
      problems.push(`${id}: ttlSecondsAfterFinished is missing`);
    }
    if (pod.restartPolicy !== 'Never' && pod.restartPolicy !== 'OnFailure') {
      problems.push(`${id}: restartPolicy must be Never or OnFailure`);
    }
  }

  const emptyDirs = new Set(
    asArray(pod.volumes)
      .filter((volume) => isObj(dig(volume, 'emptyDir')))
      .map((volume) => dig(volume, 'name')),
  );
  const containers = containersOf(doc);
  if (containers.length === 0) problems.push(`${id}: has no containers`);
  for (const container of containers) {
    const where = `${id} container ${asString(container.name) ?? '?'}`;
    const security = isObj(container.securityContext) ? container.securityContext : {};
    const effective = (key: string): unknown => security[key] ?? podSecurity[key];

    if (!asString(container.image)?.trim()) problems.push(`${where}: image is not set`);
    for (const kind of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory']) {
        if (dig(container, 'resources', kind, resource) === undefined) {
          problems.push(`${where}: resources.${kind}.${resource} is missing`);
        }
      }
    }
    if (effective('runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot must be true`);
    if (effective('runAsUser') !== RUN_AS_USER) problems.push(`${where}: runAsUser must be ${RUN_AS_USER}`);
    if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
    if (security.allowPrivilegeEscalation !== false) {
      problems.push(`${where}: allowPrivilegeEscalation must be false`);
    }
    if (security.privileged === true) problems.push(`${where}: must not be privileged`);
    if (!asArray(dig(security, 'capabilities', 'drop')).includes('ALL')) {
      problems.push(`${where}: capabilities must drop ALL`);
    }
    if (asArray(dig(security, 'capabilities', 'add')).length > 0) problems.push(`${where}: must not add capabilities`);
    if (dig(effective('seccompProfile'), 'type') !== 'RuntimeDefault') {
      problems.push(`${where}: seccompProfile must be RuntimeDefault`);
    }
    const tmp = asArray(container.volumeMounts).find((mount) => dig(mount, 'mountPath') === '/tmp');
    if (!tmp || !emptyDirs.has(dig(tmp, 'name'))) {
      problems.push(`${where}: needs an emptyDir at /tmp (the root filesystem is read-only)`);
    }

    for (const entry of asArray(container.env)) {
      const name = asString(dig(entry, 'name')) ?? '?';
      const value = dig(entry, 'value');
      if (SECRET_ENV_NAME.test(name)) {
        const ref = dig(entry, 'valueFrom', 'secretKeyRef');
        if (!asString(dig(ref, 'name')) || !asString(dig(ref, 'key'))) {
          problems.push(`${where}: ${name} must come from a secretKeyRef, not a literal or other source`);
        }
      }
      if (typeof value === 'string' && CREDENTIALS_IN_URL.test(value)) {
        problems.push(`${where}: ${name} holds a URL with credentials; use a secretKeyRef`);
      }
    }

    if (isDeployment && asArray(pod.containers).includes(container)) {
      for (const [probe, expected] of Object.entries(PROBE_PATHS)) {
        const httpGet = dig(container, probe, 'httpGet');
        if (!isObj(httpGet)) {
          problems.push(`${where}: ${probe} with httpGet is missing`);
          continue;
        }
        if (httpGet.path !== expected) problems.push(`${where}: ${probe} must GET ${expected}`);
        if (!portMatches(httpGet.port, container)) {
          problems.push(`${where}: ${probe} port ${String(httpGet.port)} is not a declared container port`);
        }
      }
      if (!isObj(dig(container, 'lifecycle', 'preStop'))) {
        problems.push(`${where}: a preStop pause is missing (endpoints must be removed before draining)`);
      }
    }
  }
  return problems;
}

/** Every key of `subset` has the same value in `labels`; an empty subset selects nothing. */
function selects(subset: unknown, labels: Obj): boolean {
  if (!isObj(subset) || Object.keys(subset).length === 0) return false;
  return Object.entries(subset).every(([key, value]) => labels[key] === value);
}

function envEntry(container: Obj | undefined, name: string): Obj | undefined {
  const found = asArray(container?.env).find((entry) => dig(entry, 'name') === name);
  return isObj(found) ? found : undefined;
}

/** `optional: true` on a Secret or ConfigMap key reference: the variable may end up unset. */
function isOptionalRef(entry: Obj): boolean {
  return dig(entry, 'valueFrom', 'secretKeyRef', 'optional') === true || dig(entry, 'valueFrom', 'configMapKeyRef', 'optional') === true;
}

/** The value a variable ends up with, following ConfigMap references within the documents. */
function resolveEnv(container: Obj | undefined, name: string, configMaps: Map<string, Obj>): string | undefined {
  const entry = envEntry(container, name);
  if (!entry) return undefined;
  if (typeof entry.value === 'string') return entry.value;
  const ref = dig(entry, 'valueFrom', 'configMapKeyRef');
  if (!ref) return undefined;
  const value = dig(configMaps.get(asString(dig(ref, 'name')) ?? ''), 'data', asString(dig(ref, 'key')) ?? '');
  return asString(value);
}

/**
 * How the documents fit together: each Deployment is reachable, autoscaled and protected from
 * disruption; each service with a database is migrated by a Job; the runtime contract's
 * variables are wired; the gateway knows every service.
 */
/** A service image's migration entry point, relative to the image's working directory (the service's folder). */
export const MIGRATE_ENTRY = 'dist/migrate.js';

/**
 * Variables a service sets on its own migration Job's behalf differently: the Job has its own client id, and always
 * creates topics (KAFKA_TOPICS is the services' mode).
 */
const NOT_MIRRORED_BY_MIGRATION = new Set(['KAFKA_CLIENT_ID', 'KAFKA_TOPICS']);

export function platformProblems(docs: unknown[], services: DeployedService[]): string[] {
  const problems: string[] = [];
  const acceptsEmpty = new Set(
    [...sharedConfigVariables(), ...services.flatMap((service) => service.config)]
      .filter((variable) => variable.acceptsEmpty)
      .map((variable) => variable.name),
  );
  const ofKind = (kind: string): Obj[] => docs.filter((doc): doc is Obj => isObj(doc) && doc.kind === kind);
  const deployments = ofKind('Deployment');
  const jobs = [...ofKind('Job'), ...ofKind('CronJob')];
  const k8sServices = ofKind('Service');
  const hpas = ofKind('HorizontalPodAutoscaler');
  const pdbs = ofKind('PodDisruptionBudget');
  const configMaps = new Map(ofKind('ConfigMap').map((doc) => [nameOf(doc) ?? '', doc]));
  const serviceAccounts = new Set(ofKind('ServiceAccount').map(nameOf));

  const seen = new Set<string>();
  for (const doc of docs) {
    const namespace = asString(dig(doc, 'metadata', 'namespace'));
    const id = namespace ? `${resourceId(doc)} in ${namespace}` : resourceId(doc);
    if (seen.has(id)) problems.push(`${id} is defined twice`);
    seen.add(id);
  }
  for (const secret of ofKind('Secret')) {
    problems.push(`${resourceId(secret)}: Secrets are created by the platform team and never committed`);
  }
  for (const [mapName, configMap] of configMaps) {
    const data = dig(configMap, 'data');
    for (const [key, value] of Object.entries(isObj(data) ? data : {})) {
      if (SECRET_ENV_NAME.test(key) || (typeof value === 'string' && CREDENTIALS_IN_URL.test(value))) {
        problems.push(`ConfigMap/${mapName}: ${key} holds a credential; ConfigMaps are not secret, use a Secret`);
      }
    }
  }

  for (const deployment of deployments) {
    const id = resourceId(deployment);
    const name = nameOf(deployment);
    const labels = podLabelsOf(deployment);
    if (!selects(dig(deployment, 'spec', 'selector', 'matchLabels'), labels)) {
      problems.push(`${id}: spec.selector.matchLabels does not match its pod labels`);
    }
    if (dig(deployment, 'spec', 'replicas') !== undefined) {
      problems.push(`${id}: replicas must be left to the HorizontalPodAutoscaler`);
    }
    const fronting = k8sServices.filter((service) => selects(dig(service, 'spec', 'selector'), labels));
    if (fronting.length === 0) problems.push(`${id}: no Service selects its pods`);
    for (const service of fronting) {
      for (const port of asArray(dig(service, 'spec', 'ports'))) {
        const target = dig(port, 'targetPort') ?? dig(port, 'port');
        if (!containersOf(deployment).some((container) => portMatches(target, container))) {
          problems.push(`${resourceId(service)}: targetPort ${String(target)} is not a port of ${id}`);
        }
      }
    }
    const hpa = hpas.find(
      (candidate) =>
        dig(candidate, 'spec', 'scaleTargetRef', 'kind') === 'Deployment' &&
        dig(candidate, 'spec', 'scaleTargetRef', 'apiVersion') === 'apps/v1' &&
        dig(candidate, 'spec', 'scaleTargetRef', 'name') === name,
    );
    if (!hpa) {
      problems.push(`${id}: no HorizontalPodAutoscaler targets it`);
    } else {
      const min = dig(hpa, 'spec', 'minReplicas');
      if (typeof min !== 'number' || min < 2) problems.push(`${resourceId(hpa)}: minReplicas must be at least 2`);
      const onCpu = asArray(dig(hpa, 'spec', 'metrics')).some(
        (metric) => dig(metric, 'type') === 'Resource' && dig(metric, 'resource', 'name') === 'cpu',
      );
      if (!onCpu) problems.push(`${resourceId(hpa)}: does not scale on CPU`);
    }
    if (!pdbs.some((pdb) => selects(dig(pdb, 'spec', 'selector', 'matchLabels'), labels))) {
      problems.push(`${id}: no PodDisruptionBudget selects its pods`);
    }
    // Without METRICS_PORT a service serves /metrics on its API port only, and the port named metrics answers nothing.
    for (const container of asArray(podSpecOf(deployment)?.containers).filter(isObj)) {
      const metrics = asArray(container.ports).find((port) => dig(port, 'name') === 'metrics');
      if (!metrics) continue;
      const port = String(dig(metrics, 'containerPort'));
      if (resolveEnv(container, 'METRICS_PORT', configMaps) !== port) {
        problems.push(`${id}: METRICS_PORT must be ${port}, the port named metrics, or /metrics stays on the API port`);
      }
      const annotated = dig(deployment, 'spec', 'template', 'metadata', 'annotations', 'prometheus.io/port');
      if (annotated !== undefined && String(annotated) !== port) {
        problems.push(`${id}: the prometheus.io/port annotation must be ${port}, the port named metrics`);
      }
    }
  }

  for (const job of jobs) {
    const labels = podLabelsOf(job);
    for (const service of k8sServices) {
      if (selects(dig(service, 'spec', 'selector'), labels)) {
        problems.push(`${resourceId(service)}: selects the pods of ${resourceId(job)}, which serve no traffic`);
      }
    }
  }

  for (const workload of [...deployments, ...jobs]) {
    const account = asString(podSpecOf(workload)?.serviceAccountName);
    if (account && !serviceAccounts.has(account)) {
      problems.push(`${resourceId(workload)}: ServiceAccount ${account} is not defined`);
    }
    for (const container of containersOf(workload)) {
      for (const entry of asArray(container.env)) {
        const variable = asString(dig(entry, 'name')) ?? '?';
        const ref = dig(entry, 'valueFrom', 'configMapKeyRef');
        const mapName = asString(dig(ref, 'name')) ?? '';
        const key = asString(dig(ref, 'key')) ?? '';
        const value = ref ? dig(configMaps.get(mapName), 'data', key) : dig(entry, 'value');
        if (ref && dig(ref, 'optional') !== true && value === undefined) {
          problems.push(`${resourceId(workload)}: ConfigMap ${mapName} has no key ${key}`);
        }
        // zod refuses an empty string for an enum, a URL, a number or a min(1) text: a setting not in use is left
        // out of the ConfigMap behind an optional reference instead.
        if (value === '' && !acceptsEmpty.has(variable)) {
          problems.push(
            `${resourceId(workload)}: ${variable} resolves to an empty string, which its schema refuses; leave the key out and make the reference optional`,
          );
        }
        if (variable.endsWith('_FILE') && typeof value === 'string' && value !== '') {
          const mounted = asArray(container.volumeMounts).some((mount) => {
            const at = asString(dig(mount, 'mountPath'))?.replace(/\/$/, '');
            return at !== undefined && value.startsWith(`${at}/`);
          });
          if (!mounted)
            problems.push(`${resourceId(workload)}: ${variable} names ${value}, which no volume mounted in the container holds`);
        }
      }
    }
  }

  for (const service of services) {
    const deployment = deployments.find((doc) => nameOf(doc) === service.name);
    if (!deployment) {
      problems.push(`service ${service.name}: no Deployment named ${service.name}`);
      continue;
    }
    const id = resourceId(deployment);
    const containers = asArray(podSpecOf(deployment)?.containers).filter(isObj);
    const main = containers.find((container) => container.name === service.name) ?? containers[0];
    const required = requiredEnv(service);
    for (const name of required) {
      const entry = envEntry(main, name);
      if (!entry) problems.push(`${id}: ${name} is not set`);
      else if (isOptionalRef(entry)) {
        // An optional reference to a missing Secret or key leaves the variable unset.
        problems.push(`${id}: ${name} is required, so its reference must not be optional`);
      }
    }
    if (service.config.length > 0) {
      const known = knownEnv(service);
      for (const entry of asArray(main?.env)) {
        const name = asString(dig(entry, 'name')) ?? '?';
        if (!known.has(name)) problems.push(`${id}: sets ${name}, which ${service.name}'s config does not read`);
      }
    }
    const publicUrl = resolveEnv(main, 'PUBLIC_URL', configMaps);
    if (envEntry(main, 'PUBLIC_URL') && !/^https:\/\/[^/\s]+/.test(publicUrl ?? '')) {
      problems.push(`${id}: PUBLIC_URL must resolve to the https URL users reach the platform at`);
    }
    const port = resolveEnv(main, 'PORT', configMaps);
    if (port && !portMatches(Number(port), main ?? {})) {
      problems.push(`${id}: PORT ${port} is not a declared container port`);
    }
    if (!service.hasDatabase) continue;
    if (resolveEnv(main, 'MIGRATE_ON_START', configMaps) !== 'false') {
      problems.push(`${id}: MIGRATE_ON_START must resolve to "false" (a Job migrates)`);
    }
    // An image's working directory is its service's folder (see the Dockerfile), so every migration Job runs the
    // same entry point and the image says whose migrations it applies.
    const migrates = (container: Obj) =>
      container.image === main?.image && [...asArray(container.command), ...asArray(container.args)].some((part) => part === MIGRATE_ENTRY);
    const migration = jobs.find((job) => containersOf(job).some(migrates));
    if (!migration) {
      problems.push(`service ${service.name}: no Job runs ${MIGRATE_ENTRY} in its image (${String(main?.image)})`);
      continue;
    }
    const migrator = containersOf(migration).find(migrates);
    const jobUrl = dig(envEntry(migrator, 'DATABASE_URL'), 'valueFrom', 'secretKeyRef');
    const appUrl = dig(envEntry(main, 'DATABASE_URL'), 'valueFrom', 'secretKeyRef');
    if (!jobUrl || JSON.stringify(jobUrl) !== JSON.stringify(appUrl)) {
      problems.push(`${resourceId(migration)}: DATABASE_URL must come from the same Secret key as ${id}`);
    }
    // The Job creates the topics the service verifies at start (ADR on declared topics): it must reach the same
    // brokers with the same security, and use the same prefix, partitions, replication factor and retention.
    const reads = migrationVariables(service.name);
    for (const entry of asArray(migrator?.env)) {
      const name = asString(dig(entry, 'name')) ?? '?';
      if (!reads.has(name)) problems.push(`${resourceId(migration)}: sets ${name}, which ${service.name}'s migration does not read`);
    }
    const sourceOf = (entry: Obj | undefined): string => JSON.stringify(entry?.valueFrom ?? entry?.value ?? null);
    for (const entry of asArray(main?.env).filter(isObj)) {
      const name = asString(entry.name) ?? '?';
      if (!reads.has(name) || NOT_MIRRORED_BY_MIGRATION.has(name)) continue;
      const own = envEntry(migrator, name);
      if (!own) problems.push(`${resourceId(migration)}: ${name} is not set, but ${id} sets it`);
      else if (sourceOf(own) !== sourceOf(entry)) problems.push(`${resourceId(migration)}: ${name} must come from where ${id} takes it`);
    }
  }

  const gateway = deployments.find((doc) => nameOf(doc) === GATEWAY);
  if (gateway) {
    const main = asArray(podSpecOf(gateway)?.containers).filter(isObj)[0];
    const upstreams = parseUpstreams(resolveEnv(main, 'UPSTREAMS', configMaps));
    for (const service of services.filter((candidate) => candidate.name !== GATEWAY)) {
      if (!upstreams.has(service.name)) problems.push(`${resourceId(gateway)}: UPSTREAMS lacks ${service.name}`);
    }
    for (const [name, url] of upstreams) {
      const target = deployments.find((doc) => nameOf(doc) === name);
      if (!target) {
        problems.push(`${resourceId(gateway)}: UPSTREAMS names ${name}, which has no Deployment`);
        continue;
      }
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        problems.push(`${resourceId(gateway)}: UPSTREAMS has an invalid URL for ${name}`);
        continue;
      }
      const reaches = k8sServices.some(
        (service) =>
          nameOf(service) === parsed.hostname &&
          selects(dig(service, 'spec', 'selector'), podLabelsOf(target)) &&
          asArray(dig(service, 'spec', 'ports')).some((port) => String(dig(port, 'port')) === parsed.port),
      );
      if (!reaches) {
        problems.push(`${resourceId(gateway)}: UPSTREAMS URL for ${name} does not match a Service port in front of it`);
      }
    }
  }
  return problems;
}

/** Secret name and key pairs the manifests expect the platform team to provide. */
export function referencedSecrets(docs: unknown[]): Array<{ name: string; key: string }> {
  const found = new Map<string, { name: string; key: string }>();
  for (const doc of docs) {
    for (const container of containersOf(doc)) {
      for (const entry of asArray(container.env)) {
        const ref = dig(entry, 'valueFrom', 'secretKeyRef');
        const name = asString(dig(ref, 'name'));
        const key = asString(dig(ref, 'key'));
        if (name && key) found.set(`${name}/${key}`, { name, key });
      }
    }
  }
  return [...found.values()];
}

const KUSTOMIZATION_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'labels',
  'commonAnnotations',
  'resources',
  'components',
  'images',
  'patches',
  'replicas',
  'configMapGenerator',
  'generatorOptions',
]);

export function isKustomization(file: string): boolean {
  return /^kustomization\.ya?ml$/.test(path.basename(file));
}

function kustomizationIn(dir: string): string | undefined {
  return ['kustomization.yaml', 'kustomization.yml'].map((name) => path.join(dir, name)).find((file) => existsSync(file));
}

/**
 * The kustomize layout under `root`: every kustomization is well-formed and points at files
 * that exist, no manifest is left out of every kustomization (it would never be applied),
 * and overlays only name images and patch targets the bases really have. Kustomize itself
 * ignores an image or patch target that matches nothing.
 */
export function kustomizeLayoutProblems(root: string): string[] {
  const problems: string[] = [];
  const kustomizations = listFiles(root, isKustomization);
  const manifests = listFiles(root, (file) => isYamlFile(file) && !isKustomization(file));
  const referenced = new Set<string>();
  const referencedDirs = new Set<string>();
  if (kustomizations.length === 0) problems.push(`${relativeToRoot(root)}: no kustomization found`);

  const resourcesOf = (kustomizationFile: string, visited = new Set<string>()): YamlDoc[] => {
    if (visited.has(kustomizationFile)) return [];
    visited.add(kustomizationFile);
    const dir = path.dirname(kustomizationFile);
    const [doc] = readYamlDocuments(kustomizationFile);
    return [...asArray(dig(doc?.value, 'resources')), ...asArray(dig(doc?.value, 'components'))].flatMap((entry) => {
      const target = path.resolve(dir, String(entry));
      if (existsSync(target) && statSync(target).isDirectory()) {
        const nested = kustomizationIn(target);
        return nested ? resourcesOf(nested, visited) : [];
      }
      return existsSync(target) ? readYamlDocuments(target) : [];
    });
  };

  for (const file of kustomizations) {
    const where = relativeToRoot(file);
    const dir = path.dirname(file);
    const docs = readYamlDocuments(file);
    const [first] = docs;
    const doc = first?.value;
    if (docs.length !== 1 || !isObj(doc)) {
      problems.push(`${where}: must hold exactly one mapping`);
      continue;
    }
    const isComponent = doc.kind === 'Component';
    if (
      isComponent
        ? doc.apiVersion !== 'kustomize.config.k8s.io/v1alpha1'
        : doc.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || doc.kind !== 'Kustomization'
    ) {
      problems.push(
        `${where}: must be apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization (or kustomize.config.k8s.io/v1alpha1, kind Component)`,
      );
    }
    for (const key of Object.keys(doc)) {
      if (key === 'secretGenerator') problems.push(`${where}: secretGenerator would commit secret values`);
      else if (!KUSTOMIZATION_KEYS.has(key)) problems.push(`${where}: unknown or unsupported key ${key}`);
    }
    // A Component is taken in with `components:` (it patches what it joins), anything else with `resources:`.
    for (const [field, wanted] of [
      ['resources', 'Kustomization'],
      ['components', 'Component'],
    ] as const) {
      for (const entry of asArray(doc[field])) {
        const target = path.resolve(dir, String(entry));
        if (!existsSync(target) || !statSync(target).isDirectory()) {
          if (field === 'components') problems.push(`${where}: component ${String(entry)} is not a folder`);
          else if (!existsSync(target)) problems.push(`${where}: resource ${String(entry)} does not exist`);
          else referenced.add(target);
          continue;
        }
        referencedDirs.add(target);
        const nested = kustomizationIn(target);
        if (!nested) {
          problems.push(`${where}: ${String(entry)} has no kustomization`);
          continue;
        }
        const kind = dig(readYamlDocuments(nested)[0]?.value, 'kind');
        if (kind !== wanted)
          problems.push(
            `${where}: ${String(entry)} is a ${String(kind)}, so it belongs under ${field === 'resources' ? 'components' : 'resources'}`,
          );
      }
    }

    const available = resourcesOf(file).map((resource) => resource.value);
    const images = new Set(available.flatMap((resource) => containersOf(resource).map((container) => asString(container.image) ?? '')));
    const imageNames = new Set([...images].map((image) => image.replace(/@.*$/, '').replace(/:[^/:]*$/, '')));
    for (const image of asArray(doc.images)) {
      const name = asString(dig(image, 'name'));
      if (!name || !imageNames.has(name)) {
        problems.push(`${where}: image ${String(name)} is not used by any container it includes`);
      }
    }
    for (const patch of asArray(doc.patches)) {
      const kind = asString(dig(patch, 'target', 'kind'));
      const name = asString(dig(patch, 'target', 'name'));
      if (!kind || !name) {
        problems.push(`${where}: every patch needs a target kind and name`);
        continue;
      }
      if (!available.some((resource) => dig(resource, 'kind') === kind && nameOf(resource) === name)) {
        problems.push(`${where}: patch target ${kind}/${name} does not exist`);
      }
    }
  }
  for (const file of kustomizations) {
    const dir = path.dirname(file);
    // Overlays are what gets applied; everything else must be part of one.
    const isOverlay = path.relative(root, dir).split(path.sep).includes('overlays');
    if (!isOverlay && !referencedDirs.has(dir)) {
      problems.push(`${relativeToRoot(file)}: not included by any other kustomization, so never applied`);
    }
  }
  for (const manifest of manifests) {
    if (!referenced.has(manifest)) {
      problems.push(`${relativeToRoot(manifest)}: not listed in any kustomization, so never applied`);
    }
  }
  return problems;
}

export interface Renderer {
  label: string;
  render(dir: string): YamlDoc[];
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name))
    .find(executable);
}

/** kubectl's built-in kustomize (how k8s/README.md renders), else a kustomize binary on PATH. */
export function findRenderer(): Renderer | undefined {
  const run = (label: string, command: string, args: string[]): Renderer => ({
    label,
    render(dir) {
      const output = execFileSync(command, [...args, dir], {
        cwd: fromRoot(),
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return parseYamlDocuments(output, `rendered ${relativeToRoot(dir)}`);
    },
  });
  const kubectl = onPath('kubectl');
  if (kubectl) return run('kubectl kustomize', kubectl, ['kustomize']);
  const kustomize = onPath('kustomize');
  if (kustomize) return run('kustomize build', kustomize, ['build']);
  return undefined;
}

export function readReadme(): string {
  return readFileSync(fromRoot('k8s', 'README.md'), 'utf8');
}
