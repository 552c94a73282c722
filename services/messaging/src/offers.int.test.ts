import { randomUUID } from 'node:crypto';
import { offerAcceptedV1, offerClosedV1, offerCreatedV1, patientCreatedV1 } from '@pep/contracts';
import { kafkaBrokers, startTwilioFake, waitFor, type TwilioFake } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  observe,
  organization,
  patientData,
  publish,
  startMessaging,
  testClock,
  twilioCallback,
  world,
  type MessagingUnderTest,
} from '../test/harness.js';

describe('messaging service: texting offers of freed slots', () => {
  let service: MessagingUnderTest;
  let fake: TwilioFake;
  let sql: pg.Client;
  let events: Awaited<ReturnType<typeof observe>>;
  // 10:00 in New York.
  const clock = testClock('2026-09-01T14:00:00Z');

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    fake = await startTwilioFake();
    service = await startMessaging('offers', brokers, { twilio: fake, clock });
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

  const drain = async () => {
    while ((await service.dispatcher.runOnce()) > 0);
  };
  const textsTo = (phone: string) => fake.sent.filter((send) => send.params['To'] === phone).map((send) => send.params['Body']);
  const rows = async (query: string, params: unknown[]) => (await sql.query(query, params)).rows;

  const offerOf = (records: Awaited<ReturnType<typeof world>>, overrides: Record<string, unknown> = {}) => ({
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
    ...overrides,
  });

  it('texts a parallel offer to each patient saying the first YES gets it, reads the first YES as accepting it, then books the winner and tells the other', async () => {
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15552220001', firstname: 'Amir' } });
    const other = patientData({ phone: '+15552220002', firstname: 'Bea' });
    await publish(service.bus, patientCreatedV1, org.id, other._id, other, '/services/patients');
    for (const id of [records.patient._id, other._id, records.facility._id]) {
      await waitFor(
        async () =>
          (await rows('SELECT 1 FROM patient_contact WHERE id = $1 UNION SELECT 1 FROM facility WHERE id = $1', [id])).length === 1,
        { timeoutMs: 30_000, message: 'read models kept' },
      );
    }
    const offer = offerOf(records);
    const offered = [
      { patient: records.patient._id, waitlist: randomUUID() },
      { patient: other._id, waitlist: randomUUID() },
    ];
    await publish(service.bus, offerCreatedV1, org.id, offer._id, { ...offer, offered }, '/services/scheduling');
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 2, {
      timeoutMs: 30_000,
      message: 'offer texts planned',
    });
    await drain();
    expect(textsTo('+15552220001')).toEqual([
      'Hi Amir, an earlier appointment with Grace Hopper at Main Street Clinic is available on Wednesday, September 2, 2026 at 9:00 AM. The first patient to reply YES gets it; if you are not free then, ignore this message. The offer ends at 11:00 AM.',
    ]);
    expect(textsTo('+15552220002')).toHaveLength(1);

    // Numbers that text offers call Twilio's webhook for offers.
    expect(
      (
        await twilioCallback(service.app, fake, '/api/callback/sms/offers', {
          MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
          From: '+15552220001',
          To: fake.from,
          Body: 'Yes',
        })
      ).statusCode,
    ).toBe(200);
    const reply = await waitFor(() => events.seen.find((event) => event.subject === records.patient._id), {
      timeoutMs: 30_000,
      message: 'reply.received',
    });
    expect(reply.data).toMatchObject({ intent: 'accept-offer', classification: 'positive', offer: offer._id, appointment: null });

    // Scheduling gives Amir the slot and closes the offer for Bea.
    await publish(
      service.bus,
      offerAcceptedV1,
      org.id,
      offer._id,
      {
        ...offer,
        status: 'patient-found',
        patient: records.patient._id,
        waitlist: offered[0]!.waitlist,
        appointment: randomUUID(),
        awaitingApproval: false,
      },
      '/services/scheduling',
    );
    await publish(
      service.bus,
      offerClosedV1,
      org.id,
      offer._id,
      { ...offer, status: 'patient-found', reason: 'patient-found', patients: [offered[1]!] },
      '/services/scheduling',
    );
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 4, {
      timeoutMs: 30_000,
      message: 'outcome texts planned',
    });
    await drain();
    expect(textsTo('+15552220001')[1]).toBe(
      'You got it, Amir: your appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM is booked.',
    );
    expect(textsTo('+15552220002')[1]).toBe(
      'Sorry, the appointment on Wednesday, September 2, 2026 at 9:00 AM is no longer available. You stay on the waitlist.',
    );

    // Bea's late YES answers no open offer.
    await twilioCallback(service.app, fake, '/api/callback/sms/reminders', {
      MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
      From: '+15552220002',
      To: fake.from,
      Body: 'YES',
    });
    const late = await waitFor(() => events.seen.find((event) => event.subject === other._id), {
      timeoutMs: 30_000,
      message: 'late reply',
    });
    expect(late.data).toMatchObject({ intent: 'confirm', offer: null });
  });

  it('answers the YES of a patient who lost a parallel offer at once, while the same news to one who did not answer keeps the 30 s spacing', async () => {
    const spacedClock = testClock('2026-09-01T14:00:00Z');
    const spaced = await startMessaging('offers-spacing', await kafkaBrokers(), {
      twilio: fake,
      clock: spacedClock,
      dispatcher: { spacingMs: 30_000 },
    });
    const pool = new pg.Pool({ connectionString: spaced.databaseUrl, max: 2 });
    try {
      const query = async (text: string, params: unknown[]) => (await pool.query(text, params)).rows;
      const org = organization();
      const records = await world(spaced.bus, org.id, { patient: { phone: '+15552220011', firstname: 'Amir' } });
      const loser = patientData({ phone: '+15552220012', firstname: 'Bea' });
      const silent = patientData({ phone: '+15552220013', firstname: 'Cy' });
      for (const patient of [loser, silent])
        await publish(spaced.bus, patientCreatedV1, org.id, patient._id, patient, '/services/patients');
      for (const id of [records.patient._id, loser._id, silent._id, records.facility._id]) {
        await waitFor(
          async () =>
            (await query('SELECT 1 FROM patient_contact WHERE id = $1 UNION SELECT 1 FROM facility WHERE id = $1', [id])).length === 1,
          { timeoutMs: 30_000, message: 'read models kept' },
        );
      }
      const offer = offerOf(records);
      const offered = [records.patient._id, loser._id, silent._id].map((patient) => ({ patient, waitlist: randomUUID() }));
      await publish(spaced.bus, offerCreatedV1, org.id, offer._id, { ...offer, offered }, '/services/scheduling');
      await waitFor(async () => (await query('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 3, {
        timeoutMs: 30_000,
        message: 'offer texts planned',
      });
      const drainSpaced = async () => {
        while ((await spaced.dispatcher.runOnce()) > 0);
      };
      await drainSpaced();
      for (const phone of ['+15552220011', '+15552220012', '+15552220013']) expect(textsTo(phone), phone).toHaveLength(1);

      // Amir and Bea both answer YES in the same instant the offer went out; Cy does not answer.
      for (const from of ['+15552220011', '+15552220012']) {
        const answer = await twilioCallback(spaced.app, fake, '/api/callback/sms/offers', {
          MessageSid: `SM${randomUUID().replace(/-/g, '')}`,
          From: from,
          To: fake.from,
          Body: 'YES',
        });
        expect(answer.statusCode).toBe(200);
      }
      expect(
        await query(`SELECT 1 FROM message WHERE offer = $1 AND type = 'inbound' AND classification = 'positive'`, [offer._id]),
      ).toHaveLength(2);
      // Scheduling gives Amir the slot and closes the offer for Bea and Cy.
      await publish(
        spaced.bus,
        offerAcceptedV1,
        org.id,
        offer._id,
        {
          ...offer,
          status: 'patient-found',
          patient: records.patient._id,
          waitlist: offered[0]!.waitlist,
          appointment: randomUUID(),
          awaitingApproval: false,
        },
        '/services/scheduling',
      );
      await publish(
        spaced.bus,
        offerClosedV1,
        org.id,
        offer._id,
        { ...offer, status: 'patient-found', reason: 'patient-found', patients: offered.slice(1) },
        '/services/scheduling',
      );
      await waitFor(async () => (await query('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 6, {
        timeoutMs: 30_000,
        message: 'outcome texts planned',
      });

      // The clock has not moved: 30 s have not passed since any of them was texted the offer.
      await drainSpaced();
      const taken = 'Sorry, the appointment on Wednesday, September 2, 2026 at 9:00 AM is no longer available. You stay on the waitlist.';
      expect(textsTo('+15552220011')[1]).toBe(
        'You got it, Amir: your appointment with Grace Hopper on Wednesday, September 2, 2026 at 9:00 AM is booked.',
      );
      expect(textsTo('+15552220012')).toEqual([expect.any(String), taken]);
      expect(textsTo('+15552220013')).toHaveLength(1);
      const takenRows = async () =>
        Object.fromEntries(
          (
            await query(
              `SELECT patient, status, status_reason, forced_time FROM reminder WHERE offer = $1 AND message_template = 'offer-taken'`,
              [offer._id],
            )
          ).map((row) => [row.patient, `${row.status}:${row.status_reason}:${row.forced_time}`]),
        );
      expect(await takenRows()).toEqual({ [loser._id]: 'sent:null:true', [silent._id]: 'scheduled:spacing:false' });

      spacedClock.set('2026-09-01T14:00:30Z');
      await drainSpaced();
      expect(textsTo('+15552220013')).toEqual([expect.any(String), taken]);
      expect(await takenRows()).toEqual({ [loser._id]: 'sent:null:true', [silent._id]: 'sent:null:false' });
    } finally {
      await pool.end();
      await spaced.close();
    }
  });

  it('does not text an offer that lapsed before it could go out', async () => {
    const org = organization();
    const records = await world(service.bus, org.id, { patient: { phone: '+15552220003' } });
    await waitFor(async () => (await rows('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'contact kept',
    });
    const offer = offerOf(records, { expireAt: '2026-09-01T14:30:00.000Z' });
    await publish(
      service.bus,
      offerCreatedV1,
      org.id,
      offer._id,
      { ...offer, offered: [{ patient: records.patient._id, waitlist: randomUUID() }] },
      '/services/scheduling',
    );
    await waitFor(async () => (await rows('SELECT 1 FROM reminder WHERE offer = $1', [offer._id])).length === 1, {
      timeoutMs: 30_000,
      message: 'offer text planned',
    });
    clock.set('2026-09-01T14:31:00Z');
    try {
      await drain();
    } finally {
      clock.set('2026-09-01T14:00:00Z');
    }
    expect(textsTo('+15552220003')).toEqual([]);
    expect((await rows('SELECT status, status_reason FROM reminder WHERE offer = $1', [offer._id]))[0]).toEqual({
      status: 'skipped',
      status_reason: 'offer-closed',
    });
  });
});
