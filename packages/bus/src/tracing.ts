import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';

/**
 * Tracing helpers every package shares. They cost a boolean test while tracing is off (the default): the reminder
 * dispatcher's hot path must not pay for an SDK nobody started.
 */

let enabled = false;
let shutdown: (() => Promise<void>) | null = null;

/**
 * Called by the process that started the tracing SDK, with what exports its last spans at shutdown; until then every
 * helper here does nothing.
 */
export function setTracingEnabled(on: boolean, stop?: () => Promise<void>): void {
  enabled = on;
  shutdown = on ? (stop ?? null) : null;
}

/** Exports the spans still buffered and stops tracing; nothing when it is off. Called once a process has stopped. */
export async function shutdownTracing(): Promise<void> {
  const stop = shutdown;
  enabled = false;
  shutdown = null;
  await stop?.();
}

/** Whether this process exports traces. */
export function tracingEnabled(): boolean {
  return enabled;
}

/** The W3C trace context of a point in a trace, as carried in event envelopes and message headers. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The active span's W3C trace context, or undefined when tracing is off or no span is active. */
export function activeTraceContext(active: Context = context.active()): TraceContext | undefined {
  if (!enabled || !trace.getSpan(active)) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  if (!carrier.traceparent) return undefined;
  return carrier.tracestate ? { traceparent: carrier.traceparent, tracestate: carrier.tracestate } : { traceparent: carrier.traceparent };
}

/** The context a W3C `traceparent` (and `tracestate`) names, to start child spans in; the root context without one. */
export function contextFromTraceparent(traceparent: string | undefined, tracestate?: string): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, tracestate ? { traceparent, tracestate } : { traceparent });
}

/**
 * Runs `work` outside any trace. Background loops woken from inside a request or a handler (a timer set there keeps its
 * context) would otherwise file every later round under that one trace.
 */
export function outsideTraces<R>(work: () => R): R {
  return enabled ? context.with(ROOT_CONTEXT, work) : work();
}

/** The tracer the platform's own spans (outbox relay, consumers) come from. */
export function platformTracer() {
  return trace.getTracer('@pep/platform');
}

/**
 * Runs `work` inside a new span of `kind` under `parent`, ending it when `work` settles (an error marks it failed).
 * With tracing off it just runs `work`.
 */
export async function inSpan<R>(
  name: string,
  options: { kind: SpanKind; parent?: Context; attributes?: Record<string, string | number | boolean> },
  work: (span: Span | undefined) => Promise<R>,
): Promise<R> {
  if (!enabled) return work(undefined);
  const parent = options.parent ?? context.active();
  const span = platformTracer().startSpan(
    name,
    { kind: options.kind, ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
    throw error;
  } finally {
    span.end();
  }
}

export { SpanKind };
