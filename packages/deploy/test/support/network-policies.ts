import { nameOf, podLabelsOf, resourceId } from './k8s.js';
import { asArray, asString, dig, isObj, type Obj } from './repo.js';

/**
 * NetworkPolicy semantics, enough to answer "who may reach this pod, and what may it reach" from the manifests
 * alone: label selectors (matchLabels and matchExpressions), peers and ports, and that policies add up.
 */

/** Whether a LabelSelector selects these labels; an empty selector selects everything. */
export function selectorMatches(selector: unknown, labels: Obj): boolean {
  if (!isObj(selector)) return false;
  const matchLabels = isObj(selector.matchLabels) ? selector.matchLabels : {};
  if (!Object.entries(matchLabels).every(([key, value]) => labels[key] === value)) return false;
  return asArray(selector.matchExpressions).every((expression) => {
    const key = asString(dig(expression, 'key')) ?? '';
    const values = asArray(dig(expression, 'values'));
    const has = Object.hasOwn(labels, key);
    switch (dig(expression, 'operator')) {
      case 'In':
        return has && values.includes(labels[key]);
      case 'NotIn':
        return !has || !values.includes(labels[key]);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

function isEmptySelector(selector: unknown): boolean {
  return isObj(selector) && asArray(selector.matchExpressions).length === 0 && Object.keys(dig(selector, 'matchLabels') ?? {}).length === 0;
}

/** The pods a workload (Deployment, Job, CronJob) runs, as the policies see them. */
export interface Pod {
  workload: string;
  labels: Obj;
}

export function podsOf(docs: unknown[]): Pod[] {
  return docs
    .filter((doc) => ['Deployment', 'Job', 'CronJob'].includes(String(dig(doc, 'kind'))))
    .map((doc) => ({ workload: resourceId(doc), labels: podLabelsOf(doc) }));
}

export function policiesOf(docs: unknown[]): Obj[] {
  return docs.filter((doc): doc is Obj => isObj(doc) && doc.kind === 'NetworkPolicy');
}

function policyTypes(policy: Obj): string[] {
  const declared = asArray(dig(policy, 'spec', 'policyTypes')).map(String);
  if (declared.length > 0) return declared;
  // Kubernetes' default: Ingress always, Egress when egress rules exist.
  return asArray(dig(policy, 'spec', 'egress')).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

export function selectsPod(policy: Obj, pod: Pod): boolean {
  return selectorMatches(dig(policy, 'spec', 'podSelector'), pod.labels);
}

/**
 * One allowed connection, described so tests can compare it with a table: `pod:<workload labels' name>:<port>` for a
 * pod of this namespace, `ns:<namespace>[/<pod labels>]:<port>` for other namespaces, `ip:<cidr>[ except ...]:<port>`.
 */
function describePeers(peers: unknown[], ports: unknown[], pods: Pod[]): string[] {
  const portNames =
    ports.length === 0 ? ['any'] : ports.map((port) => `${String(dig(port, 'protocol') ?? 'TCP')}/${String(dig(port, 'port') ?? 'any')}`);
  const targets = peers.flatMap((peer): string[] => {
    const ipBlock = dig(peer, 'ipBlock');
    if (isObj(ipBlock)) {
      const except = asArray(ipBlock.except);
      return [`ip:${String(ipBlock.cidr)}${except.length > 0 ? ' except private' : ''}`];
    }
    const namespaceSelector = dig(peer, 'namespaceSelector');
    const podSelector = dig(peer, 'podSelector');
    if (namespaceSelector !== undefined) {
      const namespace = asString(dig(namespaceSelector, 'matchLabels', 'kubernetes.io/metadata.name')) ?? JSON.stringify(namespaceSelector);
      const podLabels =
        isObj(podSelector) && !isEmptySelector(podSelector)
          ? `/${Object.entries(dig(podSelector, 'matchLabels') ?? {})
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(',')}`
          : '';
      return [`ns:${namespace}${podLabels}`];
    }
    // A pod selector alone: pods of this namespace, named by the workloads they belong to.
    return [
      ...new Set(
        pods.filter((pod) => selectorMatches(podSelector, pod.labels)).map((pod) => `pod:${String(pod.labels['app.kubernetes.io/name'])}`),
      ),
    ];
  });
  return targets.flatMap((target) => portNames.map((port) => `${target}:${port}`));
}

/** Everything a pod may connect to (egress) or be reached from (ingress), over all the policies selecting it. */
export function allowed(direction: 'ingress' | 'egress', pod: Pod, policies: Obj[], pods: Pod[]): string[] {
  const peerKey = direction === 'ingress' ? 'from' : 'to';
  const found = new Set<string>();
  for (const policy of policies) {
    if (!selectsPod(policy, pod)) continue;
    for (const rule of asArray(dig(policy, 'spec', direction))) {
      for (const entry of describePeers(asArray(dig(rule, peerKey)), asArray(dig(rule, 'ports')), pods)) found.add(entry);
    }
  }
  return [...found].sort();
}

/** Whether every direction of the pod is restricted by some policy (else it is open, default deny or not). */
export function isolated(direction: 'Ingress' | 'Egress', pod: Pod, policies: Obj[]): boolean {
  return policies.some((policy) => selectsPod(policy, pod) && policyTypes(policy).includes(direction));
}

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'];

/**
 * Rules that let too much through: a rule without peers (everyone) or without ports (every port), an empty peer,
 * a selector of every namespace, and the whole internet other than HTTPS with the private ranges excepted.
 */
export function permissivePolicyProblems(policies: Obj[]): string[] {
  const problems: string[] = [];
  for (const policy of policies) {
    const id = `NetworkPolicy/${nameOf(policy) ?? '?'}`;
    for (const direction of ['ingress', 'egress'] as const) {
      const peerKey = direction === 'ingress' ? 'from' : 'to';
      asArray(dig(policy, 'spec', direction)).forEach((rule, index) => {
        const where = `${id} ${direction}[${index}]`;
        const peers = asArray(dig(rule, peerKey));
        const ports = asArray(dig(rule, 'ports'));
        if (peers.length === 0) problems.push(`${where}: no ${peerKey}, so every peer is allowed`);
        if (ports.length === 0) problems.push(`${where}: no ports, so every port is allowed`);
        for (const peer of peers) {
          if (!isObj(peer) || Object.keys(peer).length === 0) {
            problems.push(`${where}: an empty peer allows everything`);
            continue;
          }
          if (isEmptySelector(peer.namespaceSelector)) problems.push(`${where}: namespaceSelector {} selects every namespace`);
          const ipBlock = dig(peer, 'ipBlock');
          if (!isObj(ipBlock)) continue;
          const prefix = Number(String(ipBlock.cidr).split('/')[1]);
          if (prefix !== 0) continue;
          const except = asArray(ipBlock.except).map(String);
          const missing = PRIVATE_RANGES.filter((range) => !except.includes(range));
          if (missing.length > 0) problems.push(`${where}: ${String(ipBlock.cidr)} without excepting ${missing.join(', ')}`);
          const httpsOnly =
            ports.length > 0 && ports.every((port) => dig(port, 'port') === 443 && (dig(port, 'protocol') ?? 'TCP') === 'TCP');
          if (!httpsOnly) problems.push(`${where}: ${String(ipBlock.cidr)} on ports other than 443/TCP`);
        }
      });
    }
  }
  return problems;
}
