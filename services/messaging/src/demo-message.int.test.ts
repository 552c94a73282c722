import { randomUUID } from 'node:crypto';
import { demoUserMessageRequestedV1, createEvent } from '@pep/contracts';
import { kafkaBrokers, type SmtpSink, startSmtpSink, startTwilioFake, type TwilioFake, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, organization, startMessaging, testClock, type MessagingUnderTest } from '../test/harness.js';

describe("messaging service: sample messages for sales prospects' demo organizations", () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let smtp: SmtpSink;
  let sql: pg.Client;
  const org = organization();

  beforeAll(async () => {
    fake = await startTwilioFake();
    smtp = await startSmtpSink();
    service = await startMessaging('demo-messages', await kafkaBrokers(), { twilio: fake, mailer: { from: 'clinic@example.test', smtpUrl: smtp.url }, clock: testClock('2026-06-01T15:00:00Z') });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await fake?.close();
    await smtp?.close();
  });

  const request = (user: string, channel: 'sms' | 'email', to: string, messageTemplate = 'reminder') =>
    createEvent(demoUserMessageRequestedV1, {
      source: '/services/auth',
      organization: org.id,
      subject: user,
      data: { _id: user, salesforceId: 'SF00000001', messageTemplate, channel, to, requestedBy: randomUUID(), firstname: 'Tom', lastname: 'Trial' },
    });
  const planned = async (user: string) => (await sql.query('SELECT count(*)::int AS n FROM reminder WHERE patient = $1', [user])).rows[0].n as number;

  it('sends the template to the address asked for, once however often the request is delivered, and lists it', async () => {
    const user = randomUUID();
    const sms = request(user, 'sms', '+15551239876');
    const email = request(user, 'email', 'tom@prospect.example');
    await service.bus.publish([sms, sms, email].map((event) => ({ topic: demoUserMessageRequestedV1.topic, key: user, value: JSON.stringify(event) })));
    await waitFor(async () => (await planned(user)) === 2, { timeoutMs: 30_000, message: 'both samples planned' });
    while ((await service.dispatcher.runOnce()) > 0);

    const texts = fake.sent.filter((send) => send.params['To'] === '+15551239876');
    expect(texts).toHaveLength(1);
    expect(texts[0]!.params['Body']).toMatch(/^Hi Tom, this is a reminder of your appointment/);
    await waitFor(() => smtp.inbox.some((mail) => mail.subject === 'Appointment reminder' && mail.text?.startsWith('Hi Tom,') === true), { timeoutMs: 10_000, message: 'the sample e-mail' });
    const listed = (await service.app.inject({ url: `/api/messages?patient=${user}`, headers: await as(org.admin) })).json();
    expect(listed.response.map((message: { channel: string; status: string }) => [message.channel, message.status]).sort()).toEqual([
      ['email', 'sent'],
      ['sms', 'sent'],
    ]);
  });
});
