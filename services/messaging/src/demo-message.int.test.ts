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
    service = await startMessaging('demo-messages', await kafkaBrokers(), {
      twilio: fake,
      mailer: { from: 'clinic@example.test', smtpUrl: smtp.url },
      clock: testClock('2026-06-01T15:00:00Z'),
    });
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
      data: {
        _id: user,
        salesforceId: 'SF00000001',
        messageTemplate,
        channel,
        to,
        requestedBy: randomUUID(),
        firstname: 'Tom',
        lastname: 'Trial',
      },
    });
  const planned = async (user: string) =>
    (await sql.query('SELECT count(*)::int AS n FROM reminder WHERE patient = $1', [user])).rows[0].n as number;

  it('sends the template to the address asked for, once however often the request is delivered, and lists it', async () => {
    const user = randomUUID();
    const sms = request(user, 'sms', '+15551239876');
    const email = request(user, 'email', 'tom@prospect.example');
    await service.bus.publish(
      [sms, sms, email].map((event) => ({ topic: demoUserMessageRequestedV1.topic, key: user, value: JSON.stringify(event) })),
    );
    await waitFor(async () => (await planned(user)) === 2, { timeoutMs: 30_000, message: 'both samples planned' });
    while ((await service.dispatcher.runOnce()) > 0);

    const texts = fake.sent.filter((send) => send.params['To'] === '+15551239876');
    expect(texts).toHaveLength(1);
    expect(texts[0]!.params['Body']).toMatch(/^Hi Tom, this is a reminder of your appointment/);
    await waitFor(() => smtp.inbox.some((mail) => mail.subject === 'Appointment reminder' && mail.text?.startsWith('Hi Tom,') === true), {
      timeoutMs: 10_000,
      message: 'the sample e-mail',
    });
    const listed = (await service.app.inject({ url: `/api/messages?patient=${user}`, headers: await as(org.admin) })).json();
    expect(listed.map((message: { channel: string; status: string }) => [message.channel, message.status]).sort()).toEqual([
      ['email', 'sent'],
      ['sms', 'sent'],
    ]);
  });

  it('sends a named sample to the demo patient only, in its own wording, whatever address the request carries', async () => {
    const user = randomUUID();
    const demoPatient = randomUUID();
    // The demo patient as patients' events made them known: the read model's phone is the one used.
    await sql.query(
      `INSERT INTO patient_contact (id, organization, firstname, lastname, phone, language, updated_at) VALUES ($1, $2, 'Paula', 'Prospect', '+15550001111', 'en', now())`,
      [demoPatient, org.id],
    );
    const sample = (messageTemplate: string, variant?: string) =>
      createEvent(demoUserMessageRequestedV1, {
        source: '/services/auth',
        organization: org.id,
        subject: user,
        data: {
          _id: user,
          salesforceId: 'SF00000002',
          messageTemplate,
          channel: 'sms',
          to: '+15559999999',
          patient: demoPatient,
          ...(variant ? { variant } : {}),
          requestedBy: randomUUID(),
          firstname: 'Tom',
          lastname: 'Trial',
        },
      });
    await service.bus.publish(
      [sample('customActionRecall'), sample('patientReminderConfirmationThanks', 'insurance')].map((event) => ({
        topic: demoUserMessageRequestedV1.topic,
        key: user,
        value: JSON.stringify(event),
      })),
    );
    await waitFor(async () => (await planned(demoPatient)) === 2, { timeoutMs: 30_000, message: 'both samples planned' });
    while ((await service.dispatcher.runOnce()) > 0);

    expect(fake.sent.filter((send) => send.params['To'] === '+15559999999')).toEqual([]);
    const texts = fake.sent.filter((send) => send.params['To'] === '+15550001111').map((send) => send.params['Body']);
    expect(texts.sort()).toEqual([
      expect.stringMatching(/^Hi Paula, you are due for your next check-up/),
      expect.stringMatching(/^Thank you Paula, your appointment on .* is confirmed\. Please have your insurance card ready/),
    ]);
    expect(await planned(user)).toBe(0);
    // Recorded under the sample's name (GET /api/messages shows it as the key).
    const { rows } = await sql.query('SELECT key FROM message WHERE patient = $1 ORDER BY key', [demoPatient]);
    expect(rows.map((row) => row.key)).toEqual(['customActionRecall', 'patientReminderConfirmationThanks']);
  });
});
