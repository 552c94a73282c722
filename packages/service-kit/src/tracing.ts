import { ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import {
  context,
  INVALID_SPAN_CONTEXT,
  trace,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { setTracingEnabled } from '@pep/bus';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation, type UndiciRequest } from '@opentelemetry/instrumentation-undici';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_URL_FULL, ATTR_URL_PATH, ATTR_URL_QUERY } from '@opentelemetry/semantic-conventions';
import { PrismaInstrumentation } from '@prisma/instrumentation';
import { loggablePath } from './logger.js';

/**
 * Starts OpenTelemetry tracing for a process — only when an OTLP endpoint is configured. A service imports this module
 * (through its own `tracing.ts`) before anything else in its main, because the HTTP instrumentation patches Node's
 * `http` module as the modules that use it (Fastify, the vendor clients) load.
 */

/** Whether the standard variables switch tracing on: an OTLP endpoint, and the SDK not disabled. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

let provider: NodeTracerProvider | null = null;

/** Paths probes and scrapers call many times a minute: not worth a trace each. */
const UNTRACED_PATHS = /^\/(?:health(?:\/|$)|metrics$)/;

const REDACTED = '[redacted]';

/** A URL as a span may carry it: search terms and vendors' fields travel in queries, so the query is never kept. */
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

/** Whether `active` lies inside a recorded trace. */
function insideTrace(active: Context): boolean {
  const span = trace.getSpan(active);
  return span !== undefined && trace.isSpanContextValid(span.spanContext());
}

/** A provider whose tracers start spans only inside a trace; elsewhere their spans record nothing and start no trace. */
function insideTracesOnly(provider: TracerProvider): TracerProvider {
  return {
    getTracer(name, version, options) {
      const tracer = provider.getTracer(name, version, options);
      const nothing = (): Span => trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      const wrapped: Tracer = {
        startSpan: (spanName: string, spanOptions?: SpanOptions, parent: Context = context.active()) =>
          insideTrace(parent) ? tracer.startSpan(spanName, spanOptions, parent) : nothing(),
        // The API's overloads: (name, fn), (name, options, fn), (name, options, context, fn).
        startActiveSpan: ((spanName: string, ...rest: unknown[]) => {
          const fn = rest[rest.length - 1] as (span: Span) => unknown;
          const parent = rest.length === 3 ? (rest[1] as Context) : context.active();
          if (insideTrace(parent)) return (tracer.startActiveSpan as (...args: unknown[]) => unknown)(spanName, ...rest);
          const span = nothing();
          return context.with(trace.setSpan(parent, span), () => fn(span));
        }) as Tracer['startActiveSpan'],
      };
      return wrapped;
    },
  };
}

/**
 * W3C trace context passed on to the services, never taken from a caller: at the public edge a client's `traceparent`
 * would choose the trace id and, with a parent-based sampler, force its requests to be sampled whatever the ratio.
 */
class SendOnlyTraceContext implements TextMapPropagator {
  private readonly w3c = new W3CTraceContextPropagator();
  inject(current: Context, carrier: unknown, setter: TextMapSetter): void {
    this.w3c.inject(current, carrier, setter);
  }
  extract(current: Context, _carrier: unknown, _getter: TextMapGetter): Context {
    return current;
  }
  fields(): string[] {
    return this.w3c.fields();
  }
}

/** How a process takes part in traces. */
export interface TracingOptions {
  /** Whether incoming requests continue their caller's trace (default true); false at the public edge (the gateway). */
  trustIncomingContext?: boolean;
}

/**
 * Starts the SDK when {@link tracingConfigured}: spans go by OTLP/HTTP (JSON) to the configured endpoint in batches;
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`(`_ARG`) and `OTEL_BSP_*` are honoured as the
 * SDK defines them. Returns whether tracing is on.
 */
export function startTracing(service: string, options: TracingOptions = {}): boolean {
  if (provider) return true;
  // The SDK reads the rest of its settings from the process's environment too.
  if (!tracingConfigured(process.env)) return false;
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }))
    // The standard variables win over the service's own name.
    .merge(detectResources({ detectors: [envDetector] }));
  provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register(options.trustIncomingContext === false ? { propagator: new SendOnlyTraceContext() } : {});
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // A vendor call outside any trace (a planned reminder's text) is not worth a trace of its own.
        requireParentforOutgoingSpans: true,
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // Queries and path values other than ids never reach a span (ADR 0013 holds for traces too).
        startIncomingSpanHook: (request: IncomingMessage) => ({
          // Until the route is known (the service kit's hook then names it), only the ids of the path are kept.
          [ATTR_URL_PATH]: loggablePath({ url: request.url ?? '/' }) ?? '/',
          ...(request.url?.includes('?') ? { [ATTR_URL_QUERY]: REDACTED } : {}),
        }),
        startOutgoingSpanHook: (request: RequestOptions) => (request.path?.includes('?') ? { [ATTR_URL_QUERY]: REDACTED } : {}),
        // The full URL of a vendor call is kept without its query.
        requestHook: (span, request) => {
          if (request instanceof ClientRequest) {
            const host = request.getHeader('host') ?? request.host;
            span.setAttribute(ATTR_URL_FULL, `${request.protocol}//${String(host)}${withoutQuery(request.path)}`);
          }
        },
      }),
      new UndiciInstrumentation({
        requireParentforSpans: true,
        // The gateway forwards clients' paths, which may hold a credential (a reset link's token): ids only, as logged.
        startSpanHook: (request: UndiciRequest) => {
          const path = loggablePath({ url: request.path }) ?? '/';
          return {
            [ATTR_URL_FULL]: `${request.origin}${path}`,
            [ATTR_URL_PATH]: path,
            [ATTR_URL_QUERY]: request.path.includes('?') ? REDACTED : '',
          };
        },
      }),
    ],
  });
  // Prisma's spans only inside a trace: a background poll's queries (the dispatcher asks many times a second) would each
  // start a trace of their own. Its per-call serialize/compile steps add nothing an operator reads.
  const prisma = new PrismaInstrumentation({ ignoreSpanTypes: ['prisma:client:serialize', 'prisma:client:compile'] });
  prisma.setTracerProvider(insideTracesOnly(provider));
  prisma.enable();
  const running = provider;
  // runService calls it once the app and its outbox have stopped, so the last spans leave before the process ends.
  setTracingEnabled(true, async () => {
    provider = null;
    await running.shutdown();
  });
  return true;
}
