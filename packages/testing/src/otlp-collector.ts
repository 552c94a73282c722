import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

/** OTLP's span kinds (`Span.SpanKind`), as the JSON encoding numbers them. */
export const OTLP_SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** A span as the fake collector received it, flattened from OTLP's resource/scope nesting. */
export interface CollectedSpan {
  /** `service.name` of the resource that sent it. */
  service: string;
  traceId: string;
  spanId: string;
  /** Empty for a trace's root span. */
  parentSpanId: string;
  name: string;
  /** One of {@link OTLP_SPAN_KIND}'s values. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

/** A local OTLP/HTTP trace receiver (`POST /v1/traces`, JSON encoding) that keeps what it is sent. */
export interface OtlpCollector {
  /** Base URL to give a process as `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`). */
  url: string;
  /** Every span received so far. */
  readonly spans: CollectedSpan[];
  /** Every request that reached the collector, whatever its path or encoding. */
  readonly requests: number;
  /** Requests refused because they were not OTLP JSON (415) or did not parse (400). */
  readonly refused: number;
  close(): Promise<void>;
}

const gunzipAsync = promisify(gunzip);

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}

interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number };
}

interface ExportTraceServiceRequest {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

function valueOf(value: OtlpAnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  return undefined;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((entry) => [entry.key, valueOf(entry.value)]));
}

/** Trace and span ids arrive as hex in OTLP JSON; a base64 encoder (protobuf-JSON mapping) is read too. */
function hexId(id: string | undefined): string {
  if (!id) return '';
  return /^[\da-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');
}

/** The spans of one OTLP JSON export request. */
export function spansOfExport(body: ExportTraceServiceRequest): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        spans.push({
          service,
          traceId: hexId(span.traceId),
          spanId: hexId(span.spanId),
          parentSpanId: hexId(span.parentSpanId),
          name: span.name,
          kind: span.kind ?? 0,
          attributes: attributesOf(span.attributes),
          statusCode: span.status?.code ?? 0,
        });
      }
    }
  }
  return spans;
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? gunzipAsync(raw) : raw;
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Starts the fake collector on a loopback port: `port` (e.g. the exporter's default, 4318) or a free one. */
export async function startOtlpCollector(options: { port?: number } = {}): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  let requests = 0;
  let refused = 0;
  const server = createServer((request, response) => {
    requests += 1;
    void (async () => {
      if (request.method !== 'POST' || request.url?.split('?')[0] !== '/v1/traces') return answer(response, 404, { message: 'not found' });
      // OTLP/HTTP allows protobuf too; the platform's exporter sends JSON, so anything else is a mistake worth seeing.
      if (!request.headers['content-type']?.startsWith('application/json')) {
        refused += 1;
        return answer(response, 415, { message: 'only OTLP JSON is accepted' });
      }
      try {
        spans.push(...spansOfExport(JSON.parse((await bodyOf(request)).toString('utf8')) as ExportTraceServiceRequest));
      } catch {
        refused += 1;
        return answer(response, 400, { message: 'not an OTLP JSON export request' });
      }
      // ExportTraceServiceResponse: everything accepted.
      answer(response, 200, {});
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
