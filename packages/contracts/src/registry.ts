import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { envelopeSchema, type EventEnvelope } from './envelope.js';

/** A registered event type at one version: its topic and the zod schema of its data. */
export interface EventDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  /** Event type, e.g. `patient.created`. */
  readonly type: TType;
  /** Data schema version. */
  readonly version: number;
  /** Kafka topic: `<producing service>.<aggregate>`. */
  readonly topic: string;
  /** Schema every published payload must satisfy. */
  readonly data: TSchema;
}

/** Thrown when an event's envelope or data does not match its contract. */
export class EventContractError extends Error {
  constructor(
    message: string,
    /** The zod issues that broke the contract. */
    readonly issues: z.core.$ZodIssue[],
  ) {
    super(message);
    this.name = 'EventContractError';
  }
}

const registry = new Map<string, EventDefinition>();
const keyOf = (type: string, version: number) => `${type}@${version}`;

/** Declares an event type and version; each pair may be declared once. */
export function defineEvent<TType extends string, TSchema extends z.ZodType>(
  definition: EventDefinition<TType, TSchema>,
): EventDefinition<TType, TSchema> {
  const key = keyOf(definition.type, definition.version);
  if (registry.has(key)) throw new Error(`event ${key} is defined twice`);
  registry.set(key, definition);
  return definition;
}

/** The definition registered for a type and version, if any. */
export function findEventDefinition(type: string, version: number): EventDefinition | undefined {
  return registry.get(keyOf(type, version));
}

/** Every registered definition (for documentation and contract tests). */
export function listEventDefinitions(): EventDefinition[] {
  return [...registry.values()];
}

/** What a producer supplies to build an event; the rest of the envelope is filled in. */
export interface NewEvent<TData> {
  source: string;
  organization: string;
  subject: string;
  data: TData;
  correlationId?: string;
  causationId?: string;
  id?: string;
  time?: Date;
}

/**
 * Builds an envelope for a definition, validating its data. Invalid data is a programming
 * error and throws {@link EventContractError} before anything is written.
 */
export function createEvent<TType extends string, TSchema extends z.ZodType>(
  definition: EventDefinition<TType, TSchema>,
  event: NewEvent<z.input<TSchema>>,
): EventEnvelope<z.output<TSchema>> & { type: TType } {
  const parsed = definition.data.safeParse(event.data);
  if (!parsed.success) {
    throw new EventContractError(`data of ${definition.type}@${definition.version} breaks its schema`, parsed.error.issues);
  }
  const id = event.id ?? randomUUID();
  return {
    specversion: '1.0',
    id,
    type: definition.type,
    dataversion: definition.version,
    source: event.source,
    subject: event.subject,
    time: (event.time ?? new Date()).toISOString(),
    organization: event.organization,
    correlationid: event.correlationId ?? id,
    ...(event.causationId ? { causationid: event.causationId } : {}),
    datacontenttype: 'application/json',
    data: parsed.data,
  };
}

/**
 * Parses raw bytes or an object into an envelope. The data is validated when its type and
 * version are registered; unknown types pass with `data: unknown` so consumers can skip them.
 */
export function parseEvent(raw: unknown): EventEnvelope {
  const value = typeof raw === 'string' || raw instanceof Uint8Array ? JSON.parse(Buffer.from(raw).toString('utf8')) : raw;
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) throw new EventContractError('malformed event envelope', envelope.error.issues);
  const definition = findEventDefinition(envelope.data.type, envelope.data.dataversion);
  if (!definition) return envelope.data;
  const data = definition.data.safeParse(envelope.data.data);
  if (!data.success) {
    throw new EventContractError(`data of ${envelope.data.type}@${envelope.data.dataversion} breaks its schema`, data.error.issues);
  }
  return { ...envelope.data, data: data.data };
}

/** Narrows an envelope to a definition's type and version. */
export function isEvent<TType extends string, TSchema extends z.ZodType>(
  envelope: EventEnvelope,
  definition: EventDefinition<TType, TSchema>,
): envelope is EventEnvelope<z.output<TSchema>> & { type: TType } {
  return envelope.type === definition.type && envelope.dataversion === definition.version;
}
