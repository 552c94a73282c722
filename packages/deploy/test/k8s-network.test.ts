import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { containersOf, findRenderer, isKustomization, nameOf, resourceId, schemaProblems } from './support/k8s.js';
import { allowed, isolated, permissivePolicyProblems, podsOf, policiesOf, selectsPod, type Pod } from './support/network-policies.js';
import {
  GATEWAY,
  asArray,
  asString,
  deployedServices,
  dig,
  fromRoot,
  isObj,
  isYamlFile,
  listFiles,
  readYamlDocuments,
  type Obj,
} from './support/repo.js';

// The network policies, the edge (Ingress or HTTPRoute), monitoring and the overlays' gateway settings. The policies
// are evaluated, not just read: for every pod, who may reach it and what it may reach, against the tables below.

const k8sDir = fromRoot('k8s');
const files = listFiles(k8sDir, (file) => isYamlFile(file) && !isKustomization(file))
  .flatMap(readYamlDocuments)
  .map((doc) => doc.value);
const baseFiles = listFiles(path.join(k8sDir, 'base'), (file) => isYamlFile(file) && !isKustomization(file))
  .flatMap(readYamlDocuments)
  .map((doc) => doc.value);
const services = deployedServices().map((service) => service.name);
const overlays = readdirSync(path.join(k8sDir, 'overlays'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `k8s/overlays/${entry.name}`);
const renderer = findRenderer();
const renderedOverlays = overlays.map((dir) => ({ dir, docs: renderer!.render(fromRoot(dir)).map((doc) => doc.value) }));

const pods = podsOf(baseFiles);
const policies = policiesOf(baseFiles);
const pod = (workload: string): Pod => {
  const found = pods.find((candidate) => candidate.workload === workload);
  if (!found) throw new Error(`${workload} not found`);
  return found;
};

// Who calls whom inside the namespace, from the services' configurations (the *_URL variables of their
// Deployments, and the gateway's UPSTREAMS): k8s/README.md has the same table.
const DNS = ['ns:kube-system/k8s-app=kube-dns:TCP/53', 'ns:kube-system/k8s-app=kube-dns:UDP/53'];
const KAFKA = ['ns:kafka:TCP/9092', 'ns:kafka:TCP/9093'];
const MAIL = ['ns:mail:TCP/25', 'ns:mail:TCP/587'];
const DATABASE = ['ip:192.0.2.0/24:TCP/5432'];
const INTERNET_HTTPS = ['ip:0.0.0.0/0 except private:TCP/443'];
const PROMETHEUS = ['ns:monitoring/app.kubernetes.io/name=prometheus:TCP/metrics'];
/** The OpenTelemetry collector: OTLP/HTTP (4318), the only protocol the services speak. */
const COLLECTOR = ['ns:observability:TCP/4318'];
const http = (...names: string[]): string[] => names.map((name) => `pod:${name}:TCP/http`);

const INGRESS: Record<string, string[]> = {
  'Deployment/gateway': ['ns:ingress-nginx:TCP/http', ...http('auth'), ...PROMETHEUS],
  'Deployment/auth': [...http('gateway', 'scheduling'), ...PROMETHEUS],
  'Deployment/patients': [...http('gateway', 'messaging', 'scheduling'), ...PROMETHEUS],
  'Deployment/scheduling': [...http('gateway', 'auth', 'messaging'), ...PROMETHEUS],
  'Deployment/messaging': [...http('gateway'), ...PROMETHEUS],
  'Deployment/billing': [...http('gateway'), ...PROMETHEUS],
};

const EGRESS: Record<string, string[]> = {
  'Deployment/gateway': [...DNS, ...KAFKA, ...COLLECTOR, ...http('auth', 'patients', 'scheduling', 'messaging', 'billing')],
  'Deployment/auth': [...DNS, ...KAFKA, ...MAIL, ...DATABASE, ...COLLECTOR, ...http('scheduling', 'gateway')],
  'Deployment/patients': [...DNS, ...KAFKA, ...MAIL, ...DATABASE, ...INTERNET_HTTPS, ...COLLECTOR],
  'Deployment/scheduling': [...DNS, ...KAFKA, ...DATABASE, ...COLLECTOR, ...http('patients', 'auth')],
  'Deployment/messaging': [...DNS, ...KAFKA, ...MAIL, ...DATABASE, ...INTERNET_HTTPS, ...COLLECTOR, ...http('patients', 'scheduling')],
  'Deployment/billing': [...DNS, ...KAFKA, ...MAIL, ...DATABASE, ...INTERNET_HTTPS, ...COLLECTOR],
  // Migrations need their database and Kafka (they declare the topics); the operator CronJob its database only. Neither
  // traces, so neither reaches the collector.
  'Job/auth-migrate': [...DNS, ...KAFKA, ...DATABASE],
  'Job/patients-migrate': [...DNS, ...KAFKA, ...DATABASE],
  'Job/scheduling-migrate': [...DNS, ...KAFKA, ...DATABASE],
  'Job/messaging-migrate': [...DNS, ...KAFKA, ...DATABASE],
  'Job/billing-migrate': [...DNS, ...KAFKA, ...DATABASE],
  'CronJob/auth-operator': [...DNS, ...DATABASE],
};

/** Vendors have no fixed addresses: only these pods may open HTTPS to the internet (k8s/README.md). */
const VENDOR_CALLERS = ['billing', 'messaging', 'patients'];

describe('network policies', () => {
  it('deny everything by default, in both directions, for every pod of the namespace', () => {
    const denyAll = policies.filter(
      (policy) =>
        Object.keys(dig(policy, 'spec', 'podSelector') ?? { x: 1 }).length === 0 &&
        asArray(dig(policy, 'spec', 'ingress')).length === 0 &&
        asArray(dig(policy, 'spec', 'egress')).length === 0,
    );
    expect(denyAll.map((policy) => asArray(dig(policy, 'spec', 'policyTypes')).sort())).toEqual([['Egress', 'Ingress']]);
    expect(pods.length).toBe(Object.keys(EGRESS).length);
    for (const each of pods) {
      expect(isolated('Ingress', each, policies), each.workload).toBe(true);
      expect(isolated('Egress', each, policies), each.workload).toBe(true);
    }
  });

  it.each(services)('%s has a policy of its own selecting its pods', (service) => {
    const own = policies.filter(
      (policy) =>
        Object.keys(dig(policy, 'spec', 'podSelector', 'matchLabels') ?? {}).length > 0 && selectsPod(policy, pod(`Deployment/${service}`)),
    );
    expect(own.map(nameOf)).toContain(service);
  });

  it('no rule allows every peer, every port, every namespace, or the internet beyond HTTPS', () => {
    expect(permissivePolicyProblems(policies)).toEqual([]);
    for (const { docs } of renderedOverlays) expect(permissivePolicyProblems(policiesOf(docs))).toEqual([]);
  });

  it('each pod is reached only by its documented callers; the gateway alone from the ingress controller', () => {
    const actual = Object.fromEntries(pods.map((each) => [each.workload, allowed('ingress', each, policies, pods)]));
    const expected = Object.fromEntries(pods.map((each) => [each.workload, (INGRESS[each.workload] ?? []).sort()]));
    expect(actual).toEqual(expected);
    const fromEdge = pods.filter((each) => allowed('ingress', each, policies, pods).some((peer) => peer.startsWith('ns:ingress-nginx:')));
    expect(fromEdge.map((each) => each.workload)).toEqual([`Deployment/${GATEWAY}`]);
  });

  it('each pod reaches only DNS, its own database, Kafka, the mail relay, its vendors, the trace collector and the services it calls', () => {
    const actual = Object.fromEntries(pods.map((each) => [each.workload, allowed('egress', each, policies, pods)]));
    const expected = Object.fromEntries(Object.entries(EGRESS).map(([workload, list]) => [workload, [...list].sort()]));
    expect(actual).toEqual(expected);
    const toInternet = pods.filter((each) => allowed('egress', each, policies, pods).some((peer) => peer.startsWith('ip:0.0.0.0/0')));
    expect(toInternet.map((each) => String(each.labels['app.kubernetes.io/name'])).sort()).toEqual(VENDOR_CALLERS);
  });

  it('every service that calls another has that URL in its Deployment, and the policies allow exactly those calls', () => {
    // The *_URL variables name the services a pod calls; the egress table above must list the same ones.
    for (const service of services) {
      const deployment = baseFiles.find((doc) => dig(doc, 'kind') === 'Deployment' && nameOf(doc) === service);
      const env = asArray(containersOf(deployment)[0]?.env);
      const urls = env
        .filter((entry) => /_URL$/.test(String(dig(entry, 'name'))) && typeof dig(entry, 'value') === 'string')
        .map((entry) => new URL(String(dig(entry, 'value'))).hostname);
      const upstreams = String(
        env.find((entry) => dig(entry, 'name') === 'UPSTREAMS')
          ? dig(
              env.find((entry) => dig(entry, 'name') === 'UPSTREAMS'),
              'value',
            )
          : '',
      )
        .split(',')
        .filter(Boolean)
        .map((item) => new URL(item.split('=')[1] ?? '').hostname);
      const called = [...new Set([...urls, ...upstreams])].sort();
      const allowedPods = allowed('egress', pod(`Deployment/${service}`), policies, pods)
        .filter((peer) => peer.startsWith('pod:'))
        .map((peer) => peer.split(':')[1])
        .sort();
      expect(allowedPods, service).toEqual(called);
    }
  });

  it('each overlay replaces the documentation address block the base holds for the databases', () => {
    for (const { dir, docs } of renderedOverlays) {
      const cidrs = policiesOf(docs).flatMap((policy) =>
        asArray(dig(policy, 'spec', 'egress')).flatMap((rule) =>
          asArray(dig(rule, 'to')).map((peer) => asString(dig(peer, 'ipBlock', 'cidr'))),
        ),
      );
      expect(
        cidrs.filter((cidr) => cidr?.startsWith('192.0.2.')),
        dir,
      ).toEqual([]);
    }
  });

  it('the checks catch an open rule, an empty peer, every namespace and the internet on any port', () => {
    const policy = (spec: Obj): Obj => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec });
    const problems = permissivePolicyProblems([
      policy({ podSelector: {}, ingress: [{}] }),
      policy({ podSelector: {}, ingress: [{ from: [{}], ports: [{ port: 80 }] }] }),
      policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: {} }], ports: [{ port: 80 }] }] }),
      policy({ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: 5432 }] }] }),
    ]);
    expect(problems).toEqual([
      'NetworkPolicy/p ingress[0]: no from, so every peer is allowed',
      'NetworkPolicy/p ingress[0]: no ports, so every port is allowed',
      'NetworkPolicy/p ingress[0]: an empty peer allows everything',
      'NetworkPolicy/p ingress[0]: namespaceSelector {} selects every namespace',
      'NetworkPolicy/p egress[0]: 0.0.0.0/0 without excepting 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16',
      'NetworkPolicy/p egress[0]: 0.0.0.0/0 on ports other than 443/TCP',
    ]);
  });

  it('a policy that lets another pod in is noticed by the table', () => {
    const extra = structuredClone(policies.find((policy) => nameOf(policy) === 'billing')) as Obj;
    const from = dig(extra, 'spec', 'ingress') as Obj[];
    (from[0]!.from as Obj[]).push({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'messaging', 'app.kubernetes.io/component': 'api' } },
    });
    const changed = policies.map((policy) => (nameOf(policy) === 'billing' ? extra : policy));
    expect(allowed('ingress', pod('Deployment/billing'), changed, pods)).toContain('pod:messaging:TCP/http');
  });
});

/**
 * Whether the collector OTEL_EXPORTER_OTLP_ENDPOINT (platform-config) names is reachable, evaluated pod by pod against
 * the policies: every Deployment's pods must be allowed its port, else their spans are dropped with a log line only.
 */
function collectorReachProblems(docs: unknown[]): string[] {
  const config = docs.find((doc) => dig(doc, 'kind') === 'ConfigMap' && nameOf(doc) === 'platform-config');
  const endpoint = asString(dig(config, 'data', 'OTEL_EXPORTER_OTLP_ENDPOINT'));
  if (!endpoint) return [];
  const url = new URL(endpoint);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  // `<service>.<namespace>` (with or without `.svc.cluster.local`) is another namespace; one label, this one; any
  // other host name lies outside the cluster, reached through an ipBlock.
  const labels = url.hostname.replace(/\.svc(\.cluster\.local)?$/, '').split('.');
  const peer =
    labels.length === 2
      ? new RegExp(`^ns:${labels[1]!}(/[^:]*)?:TCP/${port}$`)
      : labels.length === 1
        ? new RegExp(`^pod:[^:]+:TCP/${port}$`)
        : new RegExp(`^ip:[^:]+:TCP/${port}$`);
  const docPolicies = policiesOf(docs);
  const docPods = podsOf(docs);
  return docPods
    .filter((each) => each.workload.startsWith('Deployment/'))
    .filter((each) => !allowed('egress', each, docPolicies, docPods).some((entry) => peer.test(entry)))
    .map((each) => `${each.workload}: may not reach the trace collector at ${url.host}`);
}

describe('tracing', () => {
  const platformConfig = (docs: unknown[]): Obj =>
    dig(
      docs.find((doc) => dig(doc, 'kind') === 'ConfigMap' && nameOf(doc) === 'platform-config'),
      'data',
    ) as Obj;

  it.each(renderedOverlays.map(({ dir, docs }) => [dir, docs]))(
    '%s: every service may reach the collector its OTEL_EXPORTER_OTLP_ENDPOINT names',
    (_dir, docs) => {
      expect(collectorReachProblems(docs as unknown[])).toEqual([]);
    },
  );

  it('the reach check has a collector to check in staging, and notices one on a port the policies do not open', () => {
    const docs = structuredClone(renderedOverlays.find(({ dir }) => dir.endsWith('/staging'))!.docs);
    expect(platformConfig(docs).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://otel-collector.observability:4318');
    platformConfig(docs).OTEL_EXPORTER_OTLP_ENDPOINT = 'http://otel-collector.observability.svc.cluster.local:55681';
    const deployments = services.map((service) => `Deployment/${service}`).sort();
    expect(
      collectorReachProblems(docs)
        .map((problem) => problem.split(':')[0])
        .sort(),
    ).toEqual(deployments);
    // A collector outside the cluster needs an ipBlock on its port; the namespace rule does not cover it.
    platformConfig(docs).OTEL_EXPORTER_OTLP_ENDPOINT = 'https://otlp.example.com';
    expect(collectorReachProblems(docs)).toContain('Deployment/gateway: may not reach the trace collector at otlp.example.com');
  });

  it('the collector policy, widened to every namespace or every port, is refused', () => {
    const collector = structuredClone(policies.find((policy) => nameOf(policy) === 'otel-collector')) as Obj;
    const rule = asArray(dig(collector, 'spec', 'egress'))[0] as Obj;
    (asArray(rule.to)[0] as Obj).namespaceSelector = {};
    delete rule.ports;
    expect(permissivePolicyProblems([collector])).toEqual([
      'NetworkPolicy/otel-collector egress[0]: no ports, so every port is allowed',
      'NetworkPolicy/otel-collector egress[0]: namespaceSelector {} selects every namespace',
    ]);
  });
});

/**
 * Metric names the alerts may use, each with the file that registers it (histograms by their base name); the check
 * below reads those files, so a renamed metric fails here rather than silencing an alert.
 */
const KNOWN_METRICS: Record<string, string> = {
  http_request_duration_seconds_count: 'packages/service-kit/src/metrics.ts',
  health_check_up: 'packages/service-kit/src/health.ts',
  bus_consumer_lag: 'packages/service-kit/src/health.ts',
  bus_dead_letters_total: 'packages/db/src/evented-service.ts',
  outbox_pending_events: 'packages/db/src/evented-service.ts',
  outbox_oldest_pending_age_seconds: 'packages/db/src/evented-service.ts',
  reminder_dispatch_delay_seconds: 'services/messaging/src/app.ts',
  messaging_vendor_send_failures_total: 'services/messaging/src/app.ts',
  // Exported by kube-state-metrics, which the platform team runs.
  kube_job_status_failed: 'kube-state-metrics',
};

/** Metric names in a PromQL expression: identifiers outside label matchers, strings, ranges and grouping clauses. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set([
    'sum',
    'min',
    'max',
    'avg',
    'count',
    'rate',
    'irate',
    'increase',
    'deriv',
    'and',
    'or',
    'unless',
    'bool',
    'offset',
    'abs',
    'clamp_min',
    'histogram_quantile',
  ]);
  return [
    ...new Set([...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b/g)].map((match) => match[1]!).filter((name) => !keywords.has(name))),
  ];
}

describe('monitoring', () => {
  const rule = files.find((doc) => dig(doc, 'kind') === 'PrometheusRule');
  const alerts = asArray(dig(rule, 'spec', 'groups')).flatMap((group) => asArray(dig(group, 'rules')));

  it('alerts on the outbox, consumer lag, dead letters, reminders, 5xx, vendors, migrations and Kafka', () => {
    expect(alerts.map((alert) => dig(alert, 'alert')).sort()).toEqual(
      [
        'ConsumerLagHigh',
        'DeadLetterReceiving',
        'High5xxRate',
        'KafkaUnreachable',
        'MigrationJobFailed',
        'OutboxBacklogGrowing',
        'ReminderDispatchBehind',
        'VendorSendFailures',
      ].sort(),
    );
  });

  it.each(alerts.map((alert) => [String(dig(alert, 'alert')), alert]))(
    '%s waits, has a severity, a summary and a runbook',
    (_name, alert) => {
      expect(asString(dig(alert, 'for'))).toMatch(/^\d+[smh]$/);
      expect(['warning', 'critical']).toContain(dig(alert, 'labels', 'severity'));
      expect(asString(dig(alert, 'annotations', 'summary'))?.length).toBeGreaterThan(10);
      expect(asString(dig(alert, 'annotations', 'runbook_url'))).toMatch(/^docs\/operations\.md#[a-z0-9-]+$/);
    },
  );

  it('the alerts use only metrics the platform (or kube-state-metrics) exports', () => {
    const used = alerts.flatMap((alert) => metricNames(String(dig(alert, 'expr'))));
    expect(used.filter((name) => !(name in KNOWN_METRICS))).toEqual([]);
    expect(new Set(used)).toEqual(new Set(Object.keys(KNOWN_METRICS)));
    // The reading of expressions is itself checked: a misspelt metric is found, label names and functions are not.
    expect(metricNames('sum by (job) (rate(http_requests_totl{status_code=~"5..", job="a"}[5m])) > 0.05')).toEqual(['http_requests_totl']);
  });

  it.each(Object.entries(KNOWN_METRICS).filter(([, file]) => file.includes('/')))('%s is registered in %s', (metric, file) => {
    const registered = metric.replace(/_(count|sum|bucket)$/, '');
    expect(readFileSync(fromRoot(file), 'utf8')).toContain(`'${registered}'`);
  });

  it('the HTTP status label is the one the service kit records', () => {
    const high5xx = alerts.find((alert) => dig(alert, 'alert') === 'High5xxRate');
    expect(String(dig(high5xx, 'expr'))).toContain('status_code=~"5.."');
    expect(readFileSync(fromRoot('packages/service-kit/src/metrics.ts'), 'utf8')).toMatch(/labelNames: \[[^\]]*'status_code'/);
    expect(readFileSync(fromRoot('packages/db/src/evented-service.ts'), 'utf8')).toContain('broker:');
    expect(
      String(
        dig(
          alerts.find((alert) => dig(alert, 'alert') === 'KafkaUnreachable'),
          'expr',
        ),
      ),
    ).toContain('check="broker"');
  });

  it.each(renderedOverlays.map(({ dir, docs }) => [dir, docs]))(
    '%s has a ServiceMonitor per service on its metrics port, and the alerts',
    (_dir, docs) => {
      const monitors = (docs as unknown[]).filter((doc) => dig(doc, 'kind') === 'ServiceMonitor');
      const k8sServices = (docs as unknown[]).filter((doc) => dig(doc, 'kind') === 'Service');
      for (const service of services) {
        const monitor = monitors.find((doc) => nameOf(doc) === service);
        expect(monitor, service).toBeDefined();
        const target = k8sServices.find((doc) => nameOf(doc) === service);
        const selector = dig(monitor, 'spec', 'selector', 'matchLabels') as Obj;
        expect(
          Object.entries(selector).every(([key, value]) => dig(target, 'metadata', 'labels', key) === value),
          service,
        ).toBe(true);
        const port = asString(dig(asArray(dig(monitor, 'spec', 'endpoints'))[0], 'port'));
        expect(
          asArray(dig(target, 'spec', 'ports')).some((each) => dig(each, 'name') === port && dig(each, 'port') === 9464),
          service,
        ).toBe(true);
      }
      expect((docs as unknown[]).filter((doc) => dig(doc, 'kind') === 'PrometheusRule')).toHaveLength(1);
    },
  );

  it('every container serves its metrics on the port named metrics', () => {
    for (const doc of baseFiles.filter((each) => dig(each, 'kind') === 'Deployment')) {
      const ports = asArray(containersOf(doc)[0]?.ports);
      expect(
        ports.some((port) => dig(port, 'name') === 'metrics' && dig(port, 'containerPort') === 9464),
        resourceId(doc),
      ).toBe(true);
    }
  });
});

function gatewayEnv(docs: unknown[], name: string): string | undefined {
  const gateway = docs.find((doc) => dig(doc, 'kind') === 'Deployment' && nameOf(doc) === GATEWAY);
  const entry = asArray(containersOf(gateway).find((container) => container.name === GATEWAY)?.env).find(
    (each) => dig(each, 'name') === name,
  );
  if (!isObj(entry)) return undefined;
  if (typeof entry.value === 'string') return entry.value;
  const ref = dig(entry, 'valueFrom', 'configMapKeyRef');
  const map = docs.find((doc) => dig(doc, 'kind') === 'ConfigMap' && nameOf(doc) === dig(ref, 'name'));
  return asString(dig(map, 'data', String(dig(ref, 'key'))));
}

/** The gateway behind one proxy: it trusts that hop's X-Forwarded-For, and names the browser origins it allows. */
function gatewayEdgeProblems(docs: unknown[]): string[] {
  const problems: string[] = [];
  const hops = gatewayEnv(docs, 'TRUST_PROXY_HOPS');
  if (hops !== '1') problems.push(`TRUST_PROXY_HOPS is ${String(hops)}, not 1 (one ingress controller or Gateway proxy in front)`);
  const origins = gatewayEnv(docs, 'CORS_ORIGINS');
  if (origins === undefined) problems.push('CORS_ORIGINS is not set (the gateway would allow every origin)');
  for (const origin of (origins ?? '').split(',').map((each) => each.trim())) {
    if (origins !== undefined && !/^https:\/\/[a-z0-9.-]+(:\d+)?$/.test(origin))
      problems.push(`CORS_ORIGINS has ${origin}, not an https origin`);
  }
  return problems;
}

describe('the edge', () => {
  it.each(renderedOverlays.map(({ dir, docs }) => [dir, docs]))(
    '%s exposes the gateway through an Ingress or an HTTPRoute with TLS',
    (_dir, docs) => {
      const edges = (docs as unknown[]).filter((doc) => dig(doc, 'kind') === 'Ingress' || dig(doc, 'kind') === 'HTTPRoute');
      expect(edges).toHaveLength(1);
      const edge = edges[0] as Obj;
      // Twilio signs the URL it calls, which messaging rebuilds from PUBLIC_URL: the edge must serve that host.
      const config = (docs as unknown[]).find((doc) => dig(doc, 'kind') === 'ConfigMap' && nameOf(doc) === 'platform-config');
      const publicHost = new URL(String(dig(config, 'data', 'PUBLIC_URL'))).hostname;
      expect(schemaProblems(edge)).toEqual([]);
      if (edge.kind === 'Ingress') {
        expect(dig(edge, 'spec', 'ingressClassName')).toBe('nginx');
        expect(asString(dig(edge, 'metadata', 'annotations', 'cert-manager.io/cluster-issuer'))).toMatch(/^letsencrypt-/);
        const host = dig(asArray(dig(edge, 'spec', 'rules'))[0], 'host');
        expect(host).toBe(publicHost);
        expect(asArray(dig(asArray(dig(edge, 'spec', 'tls'))[0], 'hosts'))).toEqual([host]);
        const backend = dig(asArray(dig(asArray(dig(edge, 'spec', 'rules'))[0], 'http', 'paths'))[0], 'backend', 'service');
        expect(dig(backend, 'name')).toBe(GATEWAY);
        // BODY_LIMIT_BYTES' default (1 MiB): bigger bodies are refused by the gateway itself, with problem+json.
        expect(dig(edge, 'metadata', 'annotations', 'nginx.ingress.kubernetes.io/proxy-body-size')).toBe('1m');
      } else {
        const rule = asArray(dig(edge, 'spec', 'rules'))[0];
        expect(dig(asArray(dig(rule, 'backendRefs'))[0], 'name')).toBe(GATEWAY);
        const filter = asArray(dig(rule, 'filters')).find((each) => dig(each, 'type') === 'ResponseHeaderModifier');
        expect(asArray(dig(filter, 'responseHeaderModifier', 'set')).map((header) => dig(header, 'name'))).toContain(
          'Strict-Transport-Security',
        );
        expect(asArray(dig(edge, 'spec', 'parentRefs'))).toHaveLength(1);
        expect(asArray(dig(edge, 'spec', 'hostnames'))).toEqual([publicHost]);
      }
    },
  );

  it.each(renderedOverlays.map(({ dir, docs }) => [dir, docs]))(
    '%s: the gateway trusts one proxy hop and allows explicit https origins only',
    (_dir, docs) => {
      expect(gatewayEdgeProblems(docs as unknown[])).toEqual([]);
    },
  );

  it('the check refuses a wildcard origin and a gateway that trusts no proxy', () => {
    const docs = structuredClone(renderedOverlays[0]!.docs);
    const config = docs.find((doc) => dig(doc, 'kind') === 'ConfigMap' && nameOf(doc) === 'platform-config') as Obj;
    (config.data as Obj).CORS_ORIGINS = 'https://app.example.com,*';
    const gateway = docs.find((doc) => dig(doc, 'kind') === 'Deployment' && nameOf(doc) === GATEWAY);
    const container = containersOf(gateway)[0]!;
    container.env = asArray(container.env).filter((entry) => dig(entry, 'name') !== 'TRUST_PROXY_HOPS');
    expect(gatewayEdgeProblems(docs)).toEqual([
      'TRUST_PROXY_HOPS is undefined, not 1 (one ingress controller or Gateway proxy in front)',
      'CORS_ORIGINS has *, not an https origin',
    ]);
  });
});
