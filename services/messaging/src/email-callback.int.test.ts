import { randomUUID } from 'node:crypto';
import { offerClosedV1, offerCreatedV1, patientCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, type SmtpSink, startSmtpSink, startTwilioFake, type TwilioFake, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  patientData,
  publish,
  PUBLIC_URL,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('messaging service: answer links in reminder and offer e-mails', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    smtp = await startSmtpSink();
    service = await startMessaging('email-links', brokers, {
      twilio: fake,
      clock,
      mailer: { from: 'clinic@example.test', smtpUrl: smtp.url },
    });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.reply']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await smtp?.close();
    await fake?.close();
  });

  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const repliesOf = (patient: string) => events.seen.filter((event) => event.type === 'reply.received' && event.subject === patient);
  const replyOf = (patient: string, count: number) =>
    waitFor(() => (repliesOf(patient).length >= count ? repliesOf(patient) : null), {
      timeoutMs: 30_000,
      message: `${count} reply.received of ${patient}`,
    });
  const mailTo = (address: string) =>
    waitFor(
      () => smtp.inbox.filter((received) => received.to && !Array.isArray(received.to) && received.to.text === address).at(-1) ?? null,
      { timeoutMs: 10_000, message: `an e-mail to ${address}` },
    );
  /** The links of an e-mail, by the line they are on, as paths of this service. */
  const linksIn = (text: string) =>
    [...text.matchAll(/https:\/\/api\.clinic\.example(\/api\/callback\/email\/\w+\?token=\S+)/g)].map((match) => match[1]!);
  /** Opening the link: the page that asks. */
  const open = (path: string, accept = BROWSER) => service.app.inject({ method: 'GET', url: path, headers: { accept } });
  /** The page's button: the answer, posted as a browser posts an empty form. */
  const answer = (path: string, accept = BROWSER) =>
    service.app.inject({
      method: 'POST',
      url: path,
      headers: { accept, 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    });
  /** What nothing may change on a refused link: the inbound messages and the replies published. */
  const snapshot = async (patient: string) => ({
    inbound: (await rows("SELECT count(*)::int AS n FROM message WHERE type = 'inbound'", []))[0].n,
    replies: repliesOf(patient).length,
  });

  /** A patient reachable by e-mail only, sent the first reminder of an appointment on 5 August, 10:00 in New York. */
  const emailedPatient = async (email: string) => {
    clock.set('2026-08-01T14:00:00Z');
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
    const records = await world(service.bus, org.id, { patient: { phone: null, email, firstname: 'Noor' } });
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1 &&
        (await rows('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).length === 1,
      {
        timeoutMs: 30_000,
        message: 'read models kept',
      },
    );
    const appointment = appointmentData(records, '2026-08-05T14:00:00.000Z');
    await scheduling.book(service.bus, org.id, appointment);
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE appointment = $1', [appointment._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'reminder planned',
    });
    clock.set('2026-08-03T14:00:00Z');
    await drain();
    const [reminder] = await rows('SELECT id, status, message FROM reminder WHERE appointment = $1', [appointment._id]);
    expect(reminder.status).toBe('sent');
    return { org, records, appointment, reminder: reminder.id as string, message: reminder.message as string, mail: await mailTo(email) };
  };

  it('sends reminder e-mails with confirm and cancel links; each applies once, and a repeat answers as the first time', async () => {
    const { org, records, appointment, reminder, message, mail } = await emailedPatient('noor@example.test');
    expect(mail.subject).toBe('Appointment reminder');
    const [confirm, cancel] = linksIn(mail.text!);
    expect(mail.text).toContain(
      'Hi Noor, this is a reminder of your appointment with Grace Hopper at Main Street Clinic on Wednesday, August 5, 2026 at 10:00 AM.',
    );
    expect(mail.text).toContain(`To confirm your appointment, open ${PUBLIC_URL}${confirm}\nTo cancel it, open ${PUBLIC_URL}${cancel}`);
    expect(confirm).toMatch(new RegExp(`^/api/callback/email/reminders\\?token=${message}\\.confirm\\.\\d+\\.[\\w-]+$`));
    // The links are credentials: the record staff read keeps the wording without them, and no link names the patient.
    const [stored] = await rows('SELECT text FROM message WHERE id = $1', [message]);
    expect(stored.text).not.toContain('token=');
    expect(`${confirm}${cancel}`).not.toMatch(/noor|example\.test|Noor/);

    // Opening a link (as a mail scanner does) only asks, in a page whose button posts the answer; nothing is applied.
    const asked = await open(confirm!);
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain('<p>Confirm your appointment?</p>');
    expect(asked.body).toContain(
      `<form method="post" action="${confirm!.replace(/&/g, '&#38;')}"><button type="submit">Yes</button></form>`,
    );
    expect((await open(cancel!, 'application/json')).json()).toEqual({ action: 'cancel', question: 'Cancel your appointment?' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(repliesOf(records.patient._id)).toHaveLength(0);

    const first = await answer(confirm!);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/html/);
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers['referrer-policy']).toBe('no-referrer');
    expect(first.body).toContain('<p>Thank you, we have your answer.</p>');
    expect(first.body).toContain('<html lang="en">');
    const again = await answer(confirm!);
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe(first.body);
    const [confirmed] = await replyOf(records.patient._id, 1);
    expect(confirmed!.data).toMatchObject({
      patient: records.patient._id,
      channel: 'email',
      intent: 'confirm',
      classification: 'positive',
      appointment: appointment._id,
      reminder,
      offer: null,
    });

    // A client that does not ask for HTML gets JSON.
    const cancelled = await answer(cancel!, 'application/json');
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toEqual({ action: 'cancel', text: 'Thank you, we have your answer.' });
    expect((await answer(cancel!, 'application/json')).json()).toEqual({ action: 'cancel', text: 'Thank you, we have your answer.' });
    const replies = await replyOf(records.patient._id, 2);
    expect(replies[1]!.data).toMatchObject({
      channel: 'email',
      intent: 'cancel',
      classification: 'negative',
      appointment: appointment._id,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(repliesOf(records.patient._id)).toHaveLength(2);
    const inbound = (
      await service.app.inject({ url: `/api/messages?patient=${records.patient._id}&type=inbound`, headers: await as(org.staff) })
    ).json();
    expect(inbound).toHaveLength(2);
    expect(
      inbound
        .map((reply: { text: string; channel: string; classification: string }) => [reply.text, reply.channel, reply.classification])
        .sort(),
    ).toEqual([
      ['cancel', 'email', 'negative'],
      ['confirm', 'email', 'positive'],
    ]);
  });

  it('refuses tampered, foreign and expired links, as a page to browsers and a problem to others, and changes nothing', async () => {
    const { records, mail } = await emailedPatient('ines@example.test');
    const [confirm, cancel] = linksIn(mail.text!) as [string, string];
    const before = await snapshot(records.patient._id);
    const token = confirm.split('token=')[1]!;
    const [message, , expires, signature] = token.split('.') as [string, string, string, string];
    const tampered = [
      `/api/callback/email/reminders?token=${message}.cancel.${expires}.${signature}`,
      `/api/callback/email/reminders?token=${message}.confirm.${Number(expires) + 86_400}.${signature}`,
      `/api/callback/email/reminders?token=${randomUUID()}.confirm.${expires}.${signature}`,
      `/api/callback/email/reminders?token=${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`,
      `/api/callback/email/offers?token=${token}`,
    ];
    for (const path of tampered) {
      const refused = await open(path, 'application/json');
      expect(refused.statusCode, path).toBe(403);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.json()).toMatchObject({ status: 403, type: '/problems/bad-link', errors: [{ field: 'querystring.token' }] });
      const page = await open(path);
      expect(page.statusCode).toBe(403);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('<p>This link is not valid.</p>');
      expect((await answer(path, 'application/json')).statusCode).toBe(403);
    }
    expect((await open('/api/callback/email/reminders', 'application/json')).statusCode).toBe(400);

    // The links end when the appointment begins.
    clock.set('2026-08-05T14:00:00Z');
    const expired = await open(cancel, 'application/json');
    expect(expired.statusCode).toBe(410);
    expect(expired.json()).toMatchObject({ status: 410, title: 'Gone', type: '/problems/link-expired' });
    const expiredPage = await answer(confirm);
    expect(expiredPage.statusCode).toBe(410);
    expect(expiredPage.body).toContain('<p>This link has expired.</p>');

    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await snapshot(records.patient._id)).toEqual(before);
    expect(before.replies).toBe(0);
  });

  it('sends offer e-mails with accept and decline links in the patient’s language; an accept after the slot went elsewhere is told so', async () => {
    clock.set('2026-09-01T14:00:00Z');
    const org = organization();
    const records = await world(service.bus, org.id, {
      patient: { phone: null, email: 'lin@example.test', firstname: 'Lin', language: 'es' },
    });
    const other = patientData({ phone: null, email: 'bea@example.test', firstname: 'Bea' });
    await publish(service.bus, patientCreatedV1, org.id, other._id, other, '/services/patients');
    for (const id of [records.patient._id, other._id, records.facility._id]) {
      await waitFor(
        async () =>
          (await rows('SELECT 1 FROM patient_contact WHERE id = $1 UNION SELECT 1 FROM facility WHERE id = $1', [id])).length === 1,
        { timeoutMs: 30_000, message: 'read models kept' },
      );
    }
    const offer = {
      _id: randomUUID(),
      provider: records.provider._id,
      facility: records.facility._id,
      appointmentType: randomUUID(),
      date: '2026-09-02T13:00:00.000Z',
      duration: 30,
      timeZone: records.facility.timeZone,
      expireAt: '2026-09-01T15:00:00.000Z',
      protocol: 'parallel' as const,
      source: 'cancellation' as const,
      status: 'in-progress' as const,
    };
    const offered = [
      { patient: records.patient._id, waitlist: randomUUID() },
      { patient: other._id, waitlist: randomUUID() },
    ];
    await publish(service.bus, offerCreatedV1, org.id, offer._id, { ...offer, offered }, '/services/scheduling');
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 2, {
      timeoutMs: 30_000,
      message: 'offer e-mails planned',
    });
    await drain();
    const mail = await mailTo('lin@example.test');
    expect(mail.subject).toBe('Hay una cita más temprana disponible');
    const [accept, decline] = linksIn(mail.text!) as [string, string];
    expect(mail.text).toContain(`Para tomar esta cita, abra ${PUBLIC_URL}${accept}\nPara dejarla, abra ${PUBLIC_URL}${decline}`);
    expect(accept).toContain('/api/callback/email/offers?token=');

    expect((await open(accept)).body).toContain('<p>¿Acepta esta cita?</p>');
    const taken = await answer(accept);
    expect(taken.statusCode).toBe(200);
    expect(taken.body).toContain('<html lang="es">');
    expect(taken.body).toContain('<p>Gracias, recibimos su respuesta.</p>');
    const [accepted] = await replyOf(records.patient._id, 1);
    expect(accepted!.data).toMatchObject({
      channel: 'email',
      intent: 'accept-offer',
      classification: 'positive',
      offer: offer._id,
      appointment: null,
    });

    // Scheduling gives the slot to Lin and closes the offer: Bea's accept is still passed on (scheduling decides) but she is told the slot is gone.
    await publish(
      service.bus,
      offerClosedV1,
      org.id,
      offer._id,
      { ...offer, status: 'patient-found', reason: 'patient-found', patients: [offered[1]!] },
      '/services/scheduling',
    );
    await waitFor(async () => (await rows("SELECT 1 FROM offer WHERE id = $1 AND status = 'patient-found'", [offer._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'offer closed',
    });
    const [beasAccept] = linksIn((await mailTo('bea@example.test')).text!) as [string];
    const late = await answer(beasAccept, 'application/json');
    expect(late.json()).toEqual({
      action: 'accept',
      text: 'Sorry, the appointment on Wednesday, September 2, 2026 at 9:00 AM is no longer available. You stay on the waitlist.',
    });
    const [lateReply] = await replyOf(other._id, 1);
    expect(lateReply!.data).toMatchObject({ intent: 'accept-offer', offer: offer._id });
    // Lin opening her link again is still thanked, though the offer is now closed: a repeat answers as the first time.
    expect((await answer(accept)).body).toBe(taken.body);
  });
});
