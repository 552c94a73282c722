import { randomUUID } from 'node:crypto';
import { offerAcceptedV1, offerApprovedV1, offerCreatedV1, offerRejectedV1, patientCreatedV1, waitlistRequestedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  observe,
  organization,
  patientData,
  publish,
  publishSettings,
  scheduling,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

const CLINIC_NUMBER = '+15005550006';

describe('messaging service: what patients read and can answer', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  const clock = testClock('2026-08-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('patient-texts', brokers, { twilio: fake, clock });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    events = await observe(service, brokers, ['messaging.reply']);
  });
  afterAll(async () => {
    await events?.stop();
    await sql?.end();
    await service?.close();
    await fake?.close();
  });

  const reply = (from: string, body: string) =>
    twilioCallback(service.app, fake, '/api/callback/sms/reminders', {
      MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
      AccountSid: fake.accountSid,
      From: from,
      To: CLINIC_NUMBER,
      Body: body,
      NumMedia: '0',
    });
  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;
  const textsTo = (phone: string) => fake.sent.filter((send) => send.params['To'] === phone).map((send) => send.params['Body']);
  const repliesOf = (patient: string, count: number) =>
    waitFor(
      () => {
        const mine = events.seen.filter((event) => event.subject === patient && event.type === 'reply.received');
        return mine.length >= count ? mine : null;
      },
      { timeoutMs: 30_000, message: `${count} replies of ${patient}` },
    );

  /** A patient reminded (48 h before) of an appointment on 5 August, 10:00 in New York. */
  const remindedPatient = async (phone: string, patient: Record<string, unknown> = {}) => {
    clock.set('2026-08-01T14:00:00Z');
    const org = organization();
    await publishSettings(service.bus, org.id, { reminderOffsetsHours: [48] });
    const records = await world(service.bus, org.id, { patient: { phone, firstname: 'Rosa', ...patient } });
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
    return { org, records, appointment };
  };

  /** The patient answers NO and scheduling cancels, as it does on that reply. */
  const cancelByReply = async (phone: string, answer: string, reminded: Awaited<ReturnType<typeof remindedPatient>>) => {
    expect((await reply(phone, answer)).statusCode).toBe(200);
    const [received] = await repliesOf(reminded.records.patient._id, 1);
    expect(received!.data).toMatchObject({ intent: 'cancel', classification: 'negative', appointment: reminded.appointment._id });
    await scheduling.cancel(service.bus, reminded.org.id, reminded.appointment);
    await waitFor(
      async () =>
        (await rows("SELECT 1 FROM reminder WHERE appointment = $1 AND message_template = 'cancellation-ack'", [reminded.appointment._id]))
          .length === 1,
      {
        timeoutMs: 30_000,
        message: 'acknowledgement planned',
      },
    );
    await drain();
  };

  it('reminds with provider, facility, local date and time and YES/NO; after NO acknowledges, then invites WAITLIST, and confirms what scheduling did with it', async () => {
    const reminded = await remindedPatient('+15553330001');
    const { org, records, appointment } = reminded;
    await cancelByReply('+15553330001', 'NO', reminded);
    expect(textsTo('+15553330001')).toEqual([
      'Hi Rosa, this is a reminder of your appointment with Grace Hopper at Main Street Clinic on Wednesday, August 5, 2026 at 10:00 AM. Reply YES to confirm or NO to cancel.',
      'Your appointment on Wednesday, August 5, 2026 at 10:00 AM is cancelled. Call Main Street Clinic to book another time.',
      'Would you like an earlier or another time with Grace Hopper at Main Street Clinic? Reply WAITLIST and we will text you when one opens.',
    ]);
    // The invitation is planned only once the acknowledgement went, so it never overtakes it.
    const [ack, invite] = await rows(
      "SELECT message_template, sent_at FROM reminder WHERE appointment = $1 AND message_template IN ('cancellation-ack', 'waitlist-invite') ORDER BY sent_at",
      [appointment._id],
    );
    expect([ack.message_template, invite.message_template]).toEqual(['cancellation-ack', 'waitlist-invite']);

    // WAITLIST, however written, asks about the cancelled appointment; scheduling decides and messaging confirms.
    for (const spelling of ['waitlist', 'Wait-List!']) expect((await reply('+15553330001', spelling)).statusCode).toBe(200);
    const received = (await repliesOf(records.patient._id, 3)).slice(1);
    for (const event of received)
      expect(event.data).toMatchObject({ intent: 'waitlist', classification: 'recognized-keywords', appointment: appointment._id });
    const entry = randomUUID();
    const requested = {
      _id: entry,
      patient: records.patient._id,
      appointment: appointment._id,
      provider: records.provider._id,
      facility: records.facility._id,
      appointmentType: appointment.type,
    };
    await publish(service.bus, waitlistRequestedV1, org.id, entry, { ...requested, created: true }, '/services/scheduling');
    await publish(service.bus, waitlistRequestedV1, org.id, entry, { ...requested, created: false }, '/services/scheduling');
    await waitFor(
      async () =>
        (await rows("SELECT 1 FROM reminder WHERE appointment = $1 AND message_template = 'waitlist-joined'", [appointment._id])).length ===
        2,
      { timeoutMs: 30_000, message: 'confirmations planned' },
    );
    await drain();
    expect(textsTo('+15553330001').slice(3)).toEqual([
      'You are on the waitlist for Grace Hopper at Main Street Clinic. We will text you when a time opens.',
      'You are on the waitlist for Grace Hopper at Main Street Clinic. We will text you when a time opens.',
    ]);
    const keys = await rows("SELECT key FROM message WHERE patient = $1 AND type = 'outbound' ORDER BY key", [records.patient._id]);
    expect(keys.map((row) => row.key)).toEqual(['cancellation-ack', 'reminder', 'waitlist-invite', 'waitlist-joined', 'waitlist-joined']);
  });

  it('writes to a Spanish-speaking patient in Spanish and reads N as a cancellation', async () => {
    const reminded = await remindedPatient('+15553330002', { language: 'es', firstname: 'Lucía' });
    await cancelByReply('+15553330002', 'n', reminded);
    expect(textsTo('+15553330002')).toEqual([
      'Hola Lucía, le recordamos su cita con Grace Hopper en Main Street Clinic el miércoles, 5 de agosto de 2026 a las 10:00. Responda SÍ para confirmar o NO para cancelar.',
      'Su cita del miércoles, 5 de agosto de 2026 a las 10:00 fue cancelada. Llame a Main Street Clinic para reservar otra hora.',
      '¿Desea una hora más temprana u otra con Grace Hopper en Main Street Clinic? Responda ESPERA y le escribiremos cuando haya una.',
    ]);
  });

  it("uses a clinic's own wording of the WAITLIST invitation and of the reminder", async () => {
    const reminded = await remindedPatient('+15553330003');
    const headers = await as(reminded.org.admin);
    for (const [key, text] of [
      ['waitlist-invite', 'Want a sooner slot with {{provider.name}}? Text WAITLIST.'],
      ['reminder', 'See {{provider.name}} on {{appointment.date}} at {{appointment.time}}. YES or NO?'],
    ]) {
      const saved = await service.app.inject({ method: 'POST', url: `/api/messageTemplates/${key}`, headers, payload: { text } });
      expect(saved.statusCode, saved.body).toBe(200);
    }
    await cancelByReply('+15553330003', 'X', reminded);
    expect(textsTo('+15553330003')).toEqual([
      expect.stringContaining('Reply YES to confirm or NO to cancel.'),
      expect.stringContaining('is cancelled'),
      'Want a sooner slot with Grace Hopper? Text WAITLIST.',
    ]);
    const resolved = await service.app.inject({
      url: `/api/messageTemplates/reminder/resolve?patient=${reminded.records.patient._id}&appointment=${reminded.appointment._id}`,
      headers,
    });
    expect(resolved.json().text).toBe('See Grace Hopper on Wednesday, August 5, 2026 at 10:00 AM. YES or NO?');
  });

  it('says reply YES to book in a serial offer; with front-office acceptance says it is being checked, then booked with the local time, or no longer available', async () => {
    clock.set('2026-09-01T14:00:00Z');
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15553330004', firstname: 'Amir' } });
    const other = patientData({ phone: '+15553330005', firstname: 'Bea' });
    await publish(service.bus, patientCreatedV1, org.id, other._id, other, '/services/patients');
    for (const id of [records.patient._id, other._id, records.facility._id]) {
      await waitFor(
        async () =>
          (await rows('SELECT 1 FROM patient_contact WHERE id = $1 UNION SELECT 1 FROM facility WHERE id = $1', [id])).length === 1,
        { timeoutMs: 30_000, message: 'read models kept' },
      );
    }
    const slot = (patient: string) => ({
      _id: randomUUID(),
      provider: records.provider._id,
      facility: records.facility._id,
      appointmentType: randomUUID(),
      date: '2026-09-02T13:00:00.000Z',
      duration: 30,
      timeZone: records.facility.timeZone,
      expireAt: '2026-09-01T15:00:00.000Z',
      protocol: 'serial' as const,
      source: 'cancellation' as const,
      status: 'in-progress' as const,
      offered: [{ patient, waitlist: randomUUID() }],
    });
    const approvedOffer = slot(records.patient._id);
    const rejectedOffer = slot(other._id);
    for (const offer of [approvedOffer, rejectedOffer])
      await publish(service.bus, offerCreatedV1, org.id, offer._id, offer, '/services/scheduling');
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM reminder WHERE offer = ANY($1::uuid[])', [[approvedOffer._id, rejectedOffer._id]])).length === 2,
      { timeoutMs: 30_000, message: 'offer texts planned' },
    );
    await drain();
    expect(textsTo('+15553330004')).toEqual([
      'Hi Amir, an earlier appointment with Grace Hopper at Main Street Clinic is available on Wednesday, September 2, 2026 at 9:00 AM. Reply YES to book it or NO to pass. The offer ends at 11:00 AM.',
    ]);

    // Both say YES; the organization has the front office approve acceptances.
    const acceptances = [];
    for (const [offer, phone] of [
      [approvedOffer, '+15553330004'],
      [rejectedOffer, '+15553330005'],
    ] as const) {
      await reply(phone, 'YES');
      const [received] = await repliesOf(offer.offered[0]!.patient, 1);
      expect(received!.data).toMatchObject({ intent: 'accept-offer', offer: offer._id });
      const { offered, ...snapshot } = offer;
      const accepted = {
        ...snapshot,
        status: 'patient-found' as const,
        patient: offered[0]!.patient,
        waitlist: offered[0]!.waitlist,
        appointment: randomUUID(),
      };
      await publish(service.bus, offerAcceptedV1, org.id, offer._id, { ...accepted, awaitingApproval: true }, '/services/scheduling');
      acceptances.push(accepted);
    }
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM reminder WHERE offer = ANY($1::uuid[])', [[approvedOffer._id, rejectedOffer._id]])).length === 4,
      { timeoutMs: 30_000, message: 'pending answers planned' },
    );
    await drain();
    // Staff approve one and decline the other.
    await publish(service.bus, offerApprovedV1, org.id, approvedOffer._id, acceptances[0]!, '/services/scheduling');
    await publish(service.bus, offerRejectedV1, org.id, rejectedOffer._id, acceptances[1]!, '/services/scheduling');
    await waitFor(
      async () =>
        (await rows('SELECT 1 FROM reminder WHERE offer = ANY($1::uuid[])', [[approvedOffer._id, rejectedOffer._id]])).length === 6,
      { timeoutMs: 30_000, message: 'answers planned' },
    );
    await drain();
    expect(textsTo('+15553330004').slice(1)).toEqual([
      'Thank you, Amir. Our front office is checking the appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM; another message will follow once it is confirmed.',
      'You got it, Amir: your appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM is booked.',
    ]);
    expect(textsTo('+15553330005').slice(1)).toEqual([
      'Thank you, Bea. Our front office is checking the appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM; another message will follow once it is confirmed.',
      'Sorry, Bea, the appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM is no longer available.',
    ]);
  });
});
