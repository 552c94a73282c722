import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { shutdownTracing, tracingEnabled } from '@pep/bus';
import { OTLP_SPAN_KIND, startOtlpCollector, waitFor } from '@pep/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { PeriodicTask } from './periodic-task.js';
import { startTracing, tracingConfigured } from './tracing.js';

/** A logger whose lines the test reads back. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service: 'unit', destination }), lines };
}

describe('tracing configuration', () => {
  it('is on only with an OTLP endpoint, and off again when the SDK is disabled or its exporter is none', () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });
});

describe('startTracing', () => {
  const saved = { ...process.env };
  afterEach(async () => {
    await shutdownTracing();
    process.env = { ...saved };
  });

  it('starts nothing without an endpoint: spans record nothing and log lines name no trace', () => {
    delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    delete process.env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
    expect(startTracing('unit')).toBe(false);
    expect(tracingEnabled()).toBe(false);
    const span = trace.getTracer('unit').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    const { logger, lines } = capturedLogger();
    trace.getTracer('unit').startActiveSpan('nothing', (active) => {
      logger.info('inside');
      active.end();
    });
    expect(lines[0]).not.toHaveProperty('trace_id');
  });

  it('with an endpoint, exports spans under the service name and puts the active trace id into log lines', async () => {
    const collector = await startOtlpCollector();
    try {
      process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.url;
      delete process.env['OTEL_SERVICE_NAME'];
      expect(startTracing('unit')).toBe(true);
      expect(tracingEnabled()).toBe(true);
      const { logger, lines } = capturedLogger();
      const ids = trace.getTracer('unit').startActiveSpan('GET /things', (span) => {
        logger.info('inside');
        span.end();
        return span.spanContext();
      });
      logger.info('outside');
      expect(lines[0]).toMatchObject({ trace_id: ids.traceId, span_id: ids.spanId });
      expect(lines[1]).not.toHaveProperty('trace_id');
      // Shutdown exports what the batch still holds.
      await shutdownTracing();
      expect(tracingEnabled()).toBe(false);
      await waitFor(() => collector.spans.length > 0, { timeoutMs: 5_000, message: 'the span is exported' });
      expect(collector.spans[0]).toMatchObject({
        service: 'unit',
        name: 'GET /things',
        traceId: ids.traceId,
        kind: OTLP_SPAN_KIND.internal,
      });
    } finally {
      await collector.close();
    }
  });

  it('runs a periodic round outside the trace of the request that woke it', async () => {
    const collector = await startOtlpCollector();
    try {
      process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = collector.url;
      expect(startTracing('unit')).toBe(true);
      const seen: Array<string | undefined> = [];
      const task = new PeriodicTask(
        async () => {
          seen.push(trace.getActiveSpan()?.spanContext().traceId);
          return 0;
        },
        null,
        () => undefined,
      );
      const woke = await trace.getTracer('unit').startActiveSpan('POST /api/broadcasts', async (span) => {
        // The request's own work is in its trace; the round it starts is not.
        seen.push(trace.getActiveSpan()?.spanContext().traceId);
        await task.runOnce();
        span.end();
        return span.spanContext().traceId;
      });
      expect(seen).toEqual([woke, undefined]);
    } finally {
      await collector.close();
    }
  });
});
