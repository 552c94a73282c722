import { randomUUID } from 'node:crypto';

/** The parts of a JSON Schema (as the OpenAPI document carries it) that {@link sampleOf} reads. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  $ref?: string;
}

/** A write operation of the OpenAPI document. */
export interface Operation {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path as the document has it, `{id}` for parameters. */
  path: string;
  /** The JSON body schema, when the operation declares one. */
  body: JsonSchema | undefined;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const WRITE_METHODS = ['post', 'put', 'patch', 'delete'] as const;

/** Every write operation of the document, with `$ref`s of its body schema resolved against the document's components. */
export function writeOperations(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, byMethod] of Object.entries(document.paths)) {
    for (const method of WRITE_METHODS) {
      const operation = byMethod[method];
      if (!operation) continue;
      const schema = operation.requestBody?.content?.['application/json']?.schema;
      operations.push({
        method: method.toUpperCase() as Operation['method'],
        path,
        body: schema ? resolveRefs(schema, document) : undefined,
      });
    }
  }
  return operations;
}

function resolveRefs(schema: JsonSchema, document: OpenApiDocument, depth = 0): JsonSchema {
  if (depth > 12) return {};
  const target = schema.$ref ? (document.components?.schemas?.[schema.$ref.replace('#/components/schemas/', '')] ?? {}) : schema;
  const resolved: JsonSchema = { ...target };
  delete resolved.$ref;
  if (target.properties) {
    resolved.properties = Object.fromEntries(
      Object.entries(target.properties).map(([key, value]) => [key, resolveRefs(value, document, depth + 1)]),
    );
  }
  if (target.items) resolved.items = resolveRefs(target.items, document, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (target[key]) resolved[key] = target[key]!.map((branch) => resolveRefs(branch, document, depth + 1));
  }
  return resolved;
}

/** The URL of an operation with each path parameter filled with a random id. */
export function urlOf(operation: Operation): string {
  return operation.path.replace(/\{[^}]+\}/g, () => randomUUID());
}

const STRING_SAMPLES: Record<string, () => string> = {
  uuid: () => randomUUID(),
  'date-time': () => '2031-05-06T07:08:09.000Z',
  date: () => '2031-05-06',
  time: () => '10:00:00',
  email: () => 'someone@example.test',
  uri: () => 'https://example.test/x',
};

/** A body that looks valid for the schema: every property present, formats respected, the first branch of each union. */
export function sampleOf(schema: JsonSchema | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return 'text';
  if ('const' in schema) return schema.const;
  if (schema.enum && schema.enum.length > 0) return schema.enum[0];
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) return sampleOf(branches.find((branch) => branch.type !== 'null') ?? branches[0], depth + 1);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((part) => sampleOf(part, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((one) => one !== 'null') : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, sampleOf(value, depth + 1)]));
    case 'array':
      return [sampleOf(schema.items, depth + 1)];
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, (schema.exclusiveMinimum ?? 0) + 1);
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return STRING_SAMPLES[schema.format ?? '']?.() ?? 'text';
  }
}

/** Where each string of a sample is, as the problem documents name fields (`body.contact.0.value`). */
export function stringFields(value: unknown, field = 'body'): string[] {
  if (typeof value === 'string') return [field];
  if (Array.isArray(value)) return value.flatMap((item, index) => stringFields(item, `${field}.${index}`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => stringFields(item, `${field}.${key}`));
  return [];
}

/** The sample with every string changed by `change`. */
export function mapStrings(value: unknown, change: (text: string) => string): unknown {
  if (typeof value === 'string') return change(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, change));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, change)]));
  return value;
}

/** The sample with every leaf of the wrong JSON type: strings become numbers, numbers and booleans strings, arrays objects. */
export function wrongTypes(value: unknown): unknown {
  if (typeof value === 'string') return 12345;
  if (typeof value === 'number' || typeof value === 'boolean') return 'not-a-number-nor-boolean';
  if (Array.isArray(value)) return { notAn: 'array' };
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, wrongTypes(item)]));
  return 'null-was-expected';
}

/** JSON nested `levels` deep, alternating arrays and objects. */
export function deeplyNested(levels: number): string {
  const opening: string[] = [];
  const closing: string[] = [];
  for (let level = 0; level < levels; level += 1) {
    opening.push(level % 2 === 0 ? '[' : '{"a":');
    closing.unshift(level % 2 === 0 ? ']' : '}');
  }
  return `${opening.join('')}1${closing.join('')}`;
}

/** One hostile request body of the battery. */
export interface HostileBody {
  name: string;
  contentType: string;
  payload: string;
  /** The fields a 400 must name; empty when the body as a whole is at fault (not JSON) or nothing is wrong with a field. */
  fields: string[];
  /** Whether a 400 must name at least one field. */
  fieldAtFault: boolean;
}

const JSON_TYPE = 'application/json';

/** The battery of hostile bodies for an operation, built from a body that looks valid for its schema. */
export function hostileBodies(operation: Operation, bodyLimit: number): HostileBody[] {
  const sample = operation.body ? sampleOf(operation.body) : {};
  const isObject = sample !== null && typeof sample === 'object' && !Array.isArray(sample);
  const strings = stringFields(sample);
  const deep = deeplyNested(3000);
  const hugeText = 'x'.repeat(bodyLimit - 4096);
  const firstString = strings[0]?.split('.').slice(1);
  const withHuge = firstString && firstString.length > 0 ? setAt(sample, firstString, hugeText) : { text: hugeText };
  return [
    {
      name: 'NUL in every string field',
      contentType: JSON_TYPE,
      payload: JSON.stringify(mapStrings(sample, (text) => `${text}\u0000`)),
      fields: strings.slice(0, 20),
      fieldAtFault: strings.length > 0,
    },
    {
      name: 'an unpaired surrogate in every string field',
      contentType: JSON_TYPE,
      payload: JSON.stringify(mapStrings(sample, (text) => `${text}\ud800`)),
      fields: strings.slice(0, 20),
      fieldAtFault: strings.length > 0,
    },
    {
      name: 'NUL in a field name at the top level',
      contentType: JSON_TYPE,
      payload: JSON.stringify({ ...(isObject ? sample : {}), 'na\u0000me': '\u0000' }),
      fields: ['body.na\\u0000me'],
      fieldAtFault: true,
    },
    { name: 'a bare NUL string', contentType: JSON_TYPE, payload: JSON.stringify('\u0000'), fields: ['body'], fieldAtFault: true },
    { name: 'a 3,000-deep array', contentType: JSON_TYPE, payload: deep, fields: [], fieldAtFault: true },
    {
      name: 'a 3,000-deep value in a field',
      contentType: JSON_TYPE,
      payload:
        isObject && Object.keys(sample).length > 0 ? JSON.stringify(sample).replace(/^\{/, `{"settings":${deep},`) : `{"settings":${deep}}`,
      fields: [],
      fieldAtFault: true,
    },
    {
      name: 'wrong types in every field',
      contentType: JSON_TYPE,
      payload: JSON.stringify(wrongTypes(sample)),
      fields: [],
      fieldAtFault: isObject && Object.keys(sample).length > 0,
    },
    {
      name: 'an unknown field',
      contentType: JSON_TYPE,
      payload: JSON.stringify(isObject ? { ...sample, notAField: 1 } : { notAField: 1 }),
      fields: [],
      fieldAtFault: false,
    },
    {
      name: 'a huge string under the size limit',
      contentType: JSON_TYPE,
      payload: JSON.stringify(withHuge),
      fields: [],
      fieldAtFault: false,
    },
    { name: 'an empty body', contentType: JSON_TYPE, payload: '', fields: [], fieldAtFault: false },
    { name: 'not JSON', contentType: JSON_TYPE, payload: '{"firstname": "Ada", ', fields: [], fieldAtFault: false },
    { name: 'JSON sent as text/plain', contentType: 'text/plain', payload: JSON.stringify(sample), fields: [], fieldAtFault: false },
    {
      name: 'an array where an object is expected',
      contentType: JSON_TYPE,
      payload: JSON.stringify([sample, sample]),
      fields: [],
      fieldAtFault: false,
    },
  ];
}

function setAt(value: unknown, path: string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(value)) return value.map((item, index) => (String(index) === head ? setAt(item, rest, replacement) : item));
  const record = value as Record<string, unknown>;
  return { ...record, [head]: setAt(record[head], rest, replacement) };
}
