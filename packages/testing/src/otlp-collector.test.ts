import { context, SpanKind, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it } from 'vitest';
import { OTLP_SPAN_KIND, startOtlpCollector, type OtlpCollector } from './otlp-collector.js';

describe('fake OTLP collector', () => {
  let collector: OtlpCollector | null = null;
  afterEach(async () => {
    await collector?.close();
    collector = null;
  });

  it('keeps the spans the real OTLP/HTTP exporter sends, with their service, kind, parent and attributes', async () => {
    collector = await startOtlpCollector();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'collector-test' }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${collector.url}/v1/traces` }))],
    });
    const tracer = provider.getTracer('test');
    const parent = tracer.startSpan('GET /things/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/things/:id' } });
    const child = tracer.startSpan(
      'publish things',
      { kind: SpanKind.PRODUCER, attributes: { 'messaging.batch.message_count': 3 } },
      trace.setSpan(context.active(), parent),
    );
    child.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();

    expect(collector.spans).toHaveLength(2);
    const server = collector.spans.find((span) => span.name === 'GET /things/:id')!;
    const producer = collector.spans.find((span) => span.name === 'publish things')!;
    expect(server).toMatchObject({
      service: 'collector-test',
      kind: OTLP_SPAN_KIND.server,
      traceId: parent.spanContext().traceId,
      spanId: parent.spanContext().spanId,
      parentSpanId: '',
      attributes: { 'http.route': '/things/:id' },
    });
    expect(producer).toMatchObject({
      kind: OTLP_SPAN_KIND.producer,
      traceId: parent.spanContext().traceId,
      parentSpanId: parent.spanContext().spanId,
      attributes: { 'messaging.batch.message_count': 3 },
    });
    expect(collector.refused).toBe(0);
  });

  it('refuses what is not OTLP JSON and keeps nothing of it', async () => {
    collector = await startOtlpCollector();
    const protobuf = await fetch(`${collector.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([10, 0]),
    });
    const broken = await fetch(`${collector.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect([protobuf.status, broken.status]).toEqual([415, 400]);
    expect(collector.spans).toEqual([]);
    expect(collector.refused).toBe(2);
  });
});
