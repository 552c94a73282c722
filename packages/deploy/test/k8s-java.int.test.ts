import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCustomResource, javaProblems } from './support/java-validator.js';
import { containersOf, findRenderer, isKustomization, resourceId, schemaProblems } from './support/k8s.js';
import { dig, fromRoot, isYamlFile, listFiles, readYamlDocuments, type Obj } from './support/repo.js';

// A second validator beside the JavaScript one (k8s.test.ts): the Kubernetes Java client's generated models, whose
// validateJsonElement rejects any field its model does not define. It needs Maven to fetch the jars once, so it
// runs with the tests that may use the network, not in the unit lane.

const k8sDir = fromRoot('k8s');
const overlays = readdirSync(path.join(k8sDir, 'overlays'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `k8s/overlays/${entry.name}`);

interface Labelled {
  label: string;
  doc: unknown;
}

function core(documents: Labelled[]): Labelled[] {
  return documents.filter(({ doc }) => !isCustomResource(doc));
}

const files: Labelled[] = listFiles(k8sDir, (file) => isYamlFile(file) && !isKustomization(file))
  .flatMap(readYamlDocuments)
  .map((doc) => ({ label: `${doc.source} ${resourceId(doc.value)}`, doc: doc.value }));

function mutated(kind: string, change: (doc: Obj) => void): Obj {
  const found = files.find(({ doc }) => dig(doc, 'kind') === kind);
  if (!found) throw new Error(`no ${kind} in k8s/`);
  const doc = structuredClone(found.doc) as Obj;
  change(doc);
  return doc;
}

/** Misspellings Kubernetes would drop without a word (it prunes unknown fields), and what each validator says. */
const misspelled: Array<{ label: string; doc: Obj; field: string }> = [
  {
    label: 'Deployment readinesProbe',
    field: 'readinesProbe',
    doc: mutated('Deployment', (doc) => {
      const container = containersOf(doc)[0]!;
      container.readinesProbe = container.readinessProbe;
      delete container.readinessProbe;
    }),
  },
  {
    label: 'Ingress ingressClasName',
    field: 'ingressClasName',
    doc: mutated('Ingress', (doc) => {
      const spec = doc.spec as Obj;
      spec.ingressClasName = spec.ingressClassName;
      delete spec.ingressClassName;
    }),
  },
  {
    label: 'NetworkPolicy podSelecter',
    field: 'podSelecter',
    doc: mutated('NetworkPolicy', (doc) => {
      const spec = doc.spec as Obj;
      spec.podSelecter = spec.podSelector;
      delete spec.podSelector;
    }),
  },
  {
    label: 'NetworkPolicy ipBlock excpet',
    field: 'excpet',
    doc: mutated('NetworkPolicy', (doc) => {
      (doc.spec as Obj).egress = [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', excpet: ['10.0.0.0/8'] } }] }];
    }),
  },
];

/** Where the two disagree, which is why both run; and a kind with no Java model. */
const differences = {
  // Java stops at a document's first problem; the JavaScript checks list every one.
  misspellingBesideAnotherError: mutated('Deployment', (doc) => {
    delete (doc.spec as Obj).selector;
    containersOf(doc)[0]!.imagePullPolicyy = 'Always';
  }),
  // The Java models check field names and required fields, not the JSON type of a number.
  portAsString: mutated('Deployment', (doc) => {
    (containersOf(doc)[0]!.ports as Obj[])[0]!.containerPort = '8080';
  }),
  // Inside a schema-less (opaque) object the JavaScript detector sees only unread keys; the Java model takes it whole.
  opaqueObject: mutated('Deployment', (doc) => {
    (doc.metadata as Obj).managedFields = [{ manager: 'kubectl', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }];
  }),
  // A kind the Java table lacks.
  unknownKind: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } } as Obj,
};

const renderer = findRenderer();
let rendered: Labelled[] = [];
let verdicts = new Map<unknown, string | undefined>();

beforeAll(() => {
  if (!renderer) throw new Error('kubectl or kustomize must be on PATH');
  rendered = ['k8s/base', ...overlays].flatMap((dir) =>
    renderer.render(fromRoot(dir)).map((doc) => ({ label: `${dir} ${resourceId(doc.value)}`, doc: doc.value })),
  );
  // One JVM for every document: starting Java per document would take a second each.
  const all = [
    ...core(files),
    ...core(rendered),
    ...misspelled.map(({ label, doc }) => ({ label, doc })),
    ...Object.entries(differences).map(([label, doc]) => ({ label, doc })),
  ];
  const problems = javaProblems(all.map(({ doc }) => doc));
  verdicts = new Map(all.map(({ doc }, i) => [doc, problems[i]]));
}, 600_000);

describe('k8s/ manifests, validated by the Kubernetes Java client models', () => {
  it('every file and every rendered document of the base and each overlay is valid', () => {
    const checked = [...core(files), ...core(rendered)];
    expect(checked.length).toBeGreaterThan(100);
    expect(checked.flatMap(({ label, doc }) => (verdicts.get(doc) ? [`${label}: ${verdicts.get(doc)}`] : []))).toEqual([]);
  });

  it('only custom resources are left to the JavaScript checks', () => {
    const kinds = new Set(rendered.filter(({ doc }) => isCustomResource(doc)).map(({ doc }) => String(dig(doc, 'kind'))));
    expect([...kinds].sort()).toEqual(['ExternalSecret', 'HTTPRoute', 'PrometheusRule', 'ServiceMonitor']);
  });

  it.each(misspelled)('both validators catch $label', ({ doc, field }) => {
    expect(verdicts.get(doc)).toContain(`\`${field}\``);
    expect(schemaProblems(doc)).toContainEqual(expect.stringMatching(new RegExp(`unknown field \\S*\\b${field}$`)));
  });

  it('where they differ: first problem only, number types, opaque objects', () => {
    expect(verdicts.get(differences.misspellingBesideAnotherError)).toBe('The required field `selector` is not found');
    expect(schemaProblems(differences.misspellingBesideAnotherError)).toEqual([
      expect.stringContaining('required property selector'),
      expect.stringContaining('unknown field spec.template.spec.containers[0].imagePullPolicyy'),
    ]);
    expect(verdicts.get(differences.portAsString)).toBeUndefined();
    expect(schemaProblems(differences.portAsString)).toEqual([expect.stringContaining('containerPort must be integer')]);
    expect(verdicts.get(differences.opaqueObject)).toBeUndefined();
    expect(schemaProblems(differences.opaqueObject)).toEqual([
      expect.stringContaining('unknown field metadata.managedFields[0].fieldsV1.f:spec'),
    ]);
  });

  it('a kind the Java table lacks is reported, not skipped', () => {
    expect(verdicts.get(differences.unknownKind)).toBe('no model for v1 Secret');
  });
});
