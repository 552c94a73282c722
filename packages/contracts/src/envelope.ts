import { z } from 'zod';

/**
 * The one envelope every event travels in. Attribute names follow CloudEvents 1.0
 * (`specversion`, `id`, `source`, `type`, `subject`, `time`, `datacontenttype`, `data`);
 * the platform's own attributes are CloudEvents extensions, hence lowercase without separators.
 */
export const envelopeSchema = z
  .object({
    /** CloudEvents version of this envelope. */
    specversion: z.literal('1.0'),
    /** Unique event id (UUID); consumers deduplicate on it. */
    id: z.uuid(),
    /** Past-tense event type, `<aggregate>.<verb-ed>`, e.g. `patient.created`. */
    type: z.string().regex(/^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/),
    /** Version of the `data` schema for this type; additive changes keep the version. */
    dataversion: z.number().int().positive(),
    /** Producing service, as a URI reference, e.g. `/services/patients`. */
    source: z.string().min(1),
    /** Id of the aggregate the event is about; also the partition key. */
    subject: z.string().min(1),
    /** When the change happened (RFC 3339). */
    time: z.iso.datetime({ offset: true }),
    /** Organization (tenant) the aggregate belongs to. */
    organization: z.string().min(1),
    /** Id shared by every event and request of one business flow. */
    correlationid: z.string().min(1),
    /** Id of the event or request that directly caused this one. */
    causationid: z.string().min(1).optional(),
    /**
     * W3C trace context of the change that wrote the event (CloudEvents Distributed Tracing extension), so its consumers
     * continue the same trace; absent when tracing is off and on events written before it existed.
     */
    traceparent: z
      .string()
      .regex(/^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/)
      .optional(),
    /** Vendor-specific trace state that goes with `traceparent` (W3C `tracestate`). */
    tracestate: z.string().max(512).optional(),
    /** Always JSON. */
    datacontenttype: z.literal('application/json'),
    /** The event's payload, validated against the registered schema for `type` + `dataversion`. */
    data: z.unknown(),
  })
  // Extension attributes this release does not know are dropped, not refused, as CloudEvents asks of consumers: an
  // older replica keeps handling events from a newer one during a rolling release (it refused `traceparent` once).
  .strip();

/** An event envelope whose data is typed by its definition. */
export type EventEnvelope<TData = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: TData };
