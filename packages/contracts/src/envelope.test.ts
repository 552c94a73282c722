import { describe, expect, it } from 'vitest';
import { envelopeSchema } from './envelope.js';

const event = {
  specversion: '1.0',
  id: '0b0f4a4e-8a53-4a5e-9d1f-0f7d5d1c2b3a',
  type: 'patient.created',
  dataversion: 1,
  source: '/services/patients',
  subject: '0b0f4a4e-8a53-4a5e-9d1f-0f7d5d1c2b3a',
  time: '2030-01-01T00:00:00.000Z',
  organization: 'org-1',
  correlationid: 'request-1',
  datacontenttype: 'application/json',
  data: {},
} as const;

describe('the envelope’s trace context (CloudEvents Distributed Tracing extension)', () => {
  it('carries a W3C traceparent and tracestate, and events written without them still parse', () => {
    const traced = { ...event, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=1' };
    expect(envelopeSchema.parse(traced)).toMatchObject({ traceparent: traced.traceparent, tracestate: 'vendor=1' });
    expect(envelopeSchema.parse(event)).not.toHaveProperty('traceparent');
  });

  it('refuses a traceparent that is not W3C trace context', () => {
    for (const traceparent of [
      '',
      'not-a-trace',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
      '00-4bf92f35-00f067aa0ba902b7-01',
    ]) {
      expect(envelopeSchema.safeParse({ ...event, traceparent }).success, traceparent).toBe(false);
    }
  });

  it('drops an extension attribute it does not know, so a newer replica’s events still parse', () => {
    const parsed = envelopeSchema.parse({ ...event, partitionkey: 'p-1', sampledrate: 10 });
    expect(parsed).not.toHaveProperty('partitionkey');
    expect(parsed).not.toHaveProperty('sampledrate');
    expect(parsed).toMatchObject({ id: event.id, type: event.type });
  });
});
