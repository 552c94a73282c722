import { randomBytes } from 'node:crypto';
import { createPlatformClient, type PlatformClient } from '@pep/client';
import {
  OTLP_SPAN_KIND,
  startOtlpCollector,
  startTwilioFake,
  waitFor,
  type CollectedSpan,
  type OtlpCollector,
  type TwilioFake,
} from '@pep/testing';
import { DateTime } from 'luxon';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.js';
import type { ServiceProcess } from './processes.js';

// Issue 15's proof: with an OTLP endpoint configured, one trace follows a patient's reply from the Twilio webhook at the
// gateway, through messaging, Kafka and scheduling, and back through Kafka to messaging's acknowledgement text at Twilio.

const ZONE = 'America/New_York';
const REPLY_PATH = '/api/callback/sms/reminders';
const WAIT = { timeoutMs: 45_000, intervalMs: 250 };
const PHONE = '+12125550171';

function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
  return answer.data!;
}

describe('one trace across HTTP → Kafka → HTTP on the distributed platform', () => {
  let platform: Platform;
  let collector: OtlpCollector;
  let fake: TwilioFake;
  let gateway: ServiceProcess;
  let messaging: ServiceProcess;
  let scheduling: ServiceProcess;
  let publicUrl: string;
  let api: PlatformClient;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    fake = await startTwilioFake();
    platform = await startPlatform({
      label: 'tracing',
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        // Spans leave within a tenth of a second rather than the SDK's default 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      twilio: fake,
      clockControl: ['scheduling', 'messaging'],
    });
    ({ gateway, messaging, scheduling, publicUrl } = platform);
  });

  afterAll(async () => {
    await platform?.stop();
    await fake?.close();
    await collector?.close();
  });

  const moveClocks = async (to: DateTime) => {
    for (const service of [messaging, scheduling]) {
      const response = await fetch(`${service.url}/internal/clock`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ now: to.toUTC().toISO() }),
      });
      expect(response.status).toBe(200);
    }
  };

  const textsTo = () => fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === PHONE);

  /** The spans of one trace, once `done` finds what it waits for among them. */
  const traceOf = (traceId: string, done: (spans: CollectedSpan[]) => boolean, message: string) =>
    waitFor(
      async () => {
        const spans = collector.spans.filter((span) => span.traceId === traceId);
        return done(spans) ? spans : null;
      },
      { ...WAIT, message },
    );

  it('follows a signed C from the webhook through scheduling and back to the acknowledgement sent to Twilio', async () => {
    const signup = await createPlatformClient({ baseUrl: gateway.url }).POST('/api/users/signup', {
      body: {
        email: 'ops@tracing.example',
        password: 'tracing passphrase',
        firstname: 'Tia',
        lastname: 'Tracer',
        organizationName: 'Traced Clinic',
      },
    });
    api = createPlatformClient({ baseUrl: gateway.url, token: ok(signup).token });
    const patient = ok(
      await api.POST('/api/patients', { body: { firstname: 'Trace', lastname: 'Able', phone: PHONE, language: 'en' } }),
    )._id;
    const provider = ok(await api.POST('/api/providers', { body: { firstname: 'Grace', lastname: 'Hopper' } }))._id;
    const facility = ok(await api.POST('/api/facilities', { body: { name: 'Harbor Clinic', timeZone: ZONE } }))._id;
    const type = ok(await api.POST('/api/appointmentTypes', { body: { name: 'Check-up', duration: 30 } }))._id;
    // Next week at 10:00 in New York: its week-ahead reminder goes at 10:00 a week before, which the clocks are moved to.
    const at = DateTime.now().setZone(ZONE).plus({ days: 8 }).set({ hour: 10, minute: 0, second: 0, millisecond: 0 });
    const appointment = ok(
      await api.POST('/api/appointments', { body: { patient, provider, facility, type, date: at.toUTC().toISO()! } }),
    )._id;
    await waitFor(
      async () =>
        ok(await api.GET('/api/reminders/findByApptId/{id}', { params: { path: { id: appointment }, query: { limit: 50 } } })).response
          .length > 0,
      { ...WAIT, message: 'messaging plans the reminders' },
    );
    await waitFor(
      async () =>
        (
          await api.GET('/api/messageTemplates/{key}/resolve', {
            params: { path: { key: 'reminder' }, query: { patient, appointment } },
          })
        ).data?.text?.includes('Harbor Clinic') ?? false,
      { ...WAIT, message: 'messaging knows the patient, provider and facility' },
    );
    await moveClocks(at.minus({ hours: 168 }));
    await waitFor(async () => textsTo().length === 1, { ...WAIT, message: 'the reminder reaches Twilio' });

    // The reply comes in carrying a trace context of the caller's choosing: the gateway faces the public and starts a trace
    // of its own, which every span of the flow must join.
    const callerTraceId = randomBytes(16).toString('hex');
    const edgeSpanId = randomBytes(8).toString('hex');
    const messageSid = `SM${randomBytes(16).toString('hex')}`;
    const params = {
      MessageSid: messageSid,
      SmsSid: messageSid,
      AccountSid: fake.accountSid,
      From: PHONE,
      To: fake.from,
      Body: 'C',
      NumMedia: '0',
    };
    const replied = await fetch(`${gateway.url}${REPLY_PATH}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, `${publicUrl}${REPLY_PATH}`, params),
        traceparent: `00-${callerTraceId}-${edgeSpanId}-01`,
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(replied.status).toBe(200);
    await waitFor(async () => textsTo().length === 2, { ...WAIT, message: 'the acknowledgement reaches Twilio' });
    expect(textsTo()[1]!.params['Body']).toContain('is confirmed');

    // Found by messaging's span of the webhook; the gateway's, its ancestor, is the root (checked below).
    const webhookAtMessaging = await waitFor(
      () =>
        collector.spans.find(
          (span) => span.service === 'messaging' && span.kind === OTLP_SPAN_KIND.server && span.attributes['http.route'] === REPLY_PATH,
        ),
      { ...WAIT, message: 'messaging’s span of the webhook is exported' },
    );
    const { traceId } = webhookAtMessaging;
    expect(traceId).not.toBe(callerTraceId);
    expect(collector.spans.filter((span) => span.traceId === callerTraceId)).toEqual([]);
    const isTwilioCall = (span: CollectedSpan) =>
      span.service === 'messaging' && span.kind === OTLP_SPAN_KIND.client && String(span.attributes['url.full']).startsWith(fake.url);
    const spans = await traceOf(traceId, (found) => found.some(isTwilioCall), 'the acknowledgement’s Twilio call is exported in the trace');
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const one = (description: string, match: (span: CollectedSpan) => boolean) => {
      const found = spans.filter(match);
      expect(found, `${description} in ${JSON.stringify(spans.map((span) => [span.service, span.kind, span.name]))}`).toHaveLength(1);
      return found[0]!;
    };
    /** Whether `ancestor` is `span`'s parent, grandparent, … within the trace. */
    const descends = (span: CollectedSpan, ancestor: CollectedSpan) => {
      for (let at = byId.get(span.parentSpanId); at; at = byId.get(at.parentSpanId)) if (at.spanId === ancestor.spanId) return true;
      return false;
    };
    const event = (type: string, kind: number, service: string) => (span: CollectedSpan) =>
      span.service === service && span.kind === kind && span.attributes['cloudevents.event_type'] === type;

    // HTTP: the gateway's SERVER span is the trace's root; its CLIENT span is the parent of messaging's SERVER span.
    const gatewayServer = one('the gateway’s server span', (span) => span.service === 'gateway' && span.kind === OTLP_SPAN_KIND.server);
    expect(gatewayServer.parentSpanId).toBe('');
    const gatewayClient = one(
      'the gateway’s call to messaging',
      (span) => span.service === 'gateway' && span.kind === OTLP_SPAN_KIND.client,
    );
    expect(gatewayClient.parentSpanId).toBe(gatewayServer.spanId);
    const messagingServer = one('messaging’s server span', (span) => span.service === 'messaging' && span.kind === OTLP_SPAN_KIND.server);
    expect(messagingServer.parentSpanId).toBe(gatewayClient.spanId);
    expect(messagingServer.attributes['http.route']).toBe(REPLY_PATH);
    // Prisma's query spans sit under the request that ran them.
    expect(spans.some((span) => span.service === 'messaging' && span.name.startsWith('prisma:') && descends(span, messagingServer))).toBe(
      true,
    );

    // Kafka: reply.received published by messaging's relay under the request, consumed by scheduling under the publish.
    const replyPublished = one('reply.received published', event('reply.received', OTLP_SPAN_KIND.producer, 'messaging'));
    expect(descends(replyPublished, messagingServer)).toBe(true);
    // Every group that reads it (scheduling has more than one, auth keeps its activity feed) handles it under the publish.
    const replyHandlers = spans.filter(event('reply.received', OTLP_SPAN_KIND.consumer, 'scheduling'));
    expect(replyHandlers.length).toBeGreaterThan(0);
    for (const handler of replyHandlers) expect(handler.parentSpanId).toBe(replyPublished.spanId);

    // And back: scheduling's appointment.confirmed, written by one of those handlers, reaches messaging under its publish.
    const confirmedPublished = one(
      'appointment.confirmed published',
      event('appointment.confirmed', OTLP_SPAN_KIND.producer, 'scheduling'),
    );
    const replyConsumed = one('the handler that confirmed', (span) => replyHandlers.includes(span) && descends(confirmedPublished, span));
    expect(spans.some((span) => span.service === 'scheduling' && span.name.startsWith('prisma:') && descends(span, replyConsumed))).toBe(
      true,
    );
    const confirmedConsumed = one(
      'appointment.confirmed handled by messaging',
      event('appointment.confirmed', OTLP_SPAN_KIND.consumer, 'messaging'),
    );
    expect(confirmedConsumed.parentSpanId).toBe(confirmedPublished.spanId);

    // HTTP again: the acknowledgement's call to Twilio continues the handler that planned it.
    const twilioCall = one('the acknowledgement’s call to Twilio', isTwilioCall);
    expect(descends(twilioCall, confirmedConsumed)).toBe(true);
    expect(twilioCall.attributes['url.full']).toBe(`${fake.url}/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);

    // Logs and traces meet: the request lines of the gateway and of messaging name the trace.
    for (const service of [gateway, messaging]) expect(service.output(), service.name).toContain(`"trace_id":"${traceId}"`);

    // No PHI in any span: not the phone, the patient's name or the reply's text.
    const exported = JSON.stringify(spans);
    for (const phi of [PHONE, PHONE.slice(1), 'Trace', 'Able']) expect(exported).not.toContain(phi);
    expect(spans.every((span) => !Object.values(span.attributes).includes('C'))).toBe(true);
  });
});
