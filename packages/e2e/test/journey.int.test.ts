import { randomBytes } from 'node:crypto';
import { startTwilioFake, waitFor, type FakeSend, type TwilioFake } from '@pep/testing';
import { createPlatformClient, type PlatformClient, type Schema } from '@pep/client';
import { DateTime } from 'luxon';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.js';
import type { ServiceProcess } from './processes.js';

// The core patient journey of DESIGN.md on the distributed runtime: auth, patients, scheduling, messaging and the
// gateway each in their own process on their own database, talking through a real Kafka broker; SMS go to a
// stand-in speaking Twilio's REST API, and patients' replies come back as Twilio's signed webhooks through the
// gateway. Reminders are days ahead, so messaging and scheduling run on clocks the test moves (ADR 0009).

const ZONE = 'America/New_York';
// The organization's defaults (auth's settings): reminders 7, 4 and 2 days ahead, never outside 08:00–20:00 local.
const OFFSETS_HOURS = [168, 96, 48];
const ALLOWED_FROM = { hour: 8, minute: 0 };
const ALLOWED_UNTIL = { hour: 20, minute: 0 };
const REPLY_PATH = '/api/callback/sms/reminders';
const WAIT = { timeoutMs: 45_000, intervalMs: 250 };

/** When a reminder `offsetHours` before `appointment` must go: that many elapsed hours before, moved forward out of quiet hours. */
function expectedSendAt(appointment: DateTime, offsetHours: number): DateTime {
  const exact = appointment.minus({ hours: offsetHours }).setZone(ZONE);
  const opens = exact.set({ ...ALLOWED_FROM, second: 0, millisecond: 0 });
  const closes = exact.set({ ...ALLOWED_UNTIL, second: 0, millisecond: 0 });
  if (exact < opens) return opens;
  if (exact >= closes) return exact.plus({ days: 1 }).set({ ...ALLOWED_FROM, second: 0, millisecond: 0 });
  return exact;
}

/** The appointment's local time and day as a patient reads them, e.g. "7:30 AM" and "December 1". */
const localTime = (at: DateTime) => new RegExp(`\\b${at.setZone(ZONE).toFormat('h:mm')}\\sAM\\b`, 'u');
const localDay = (at: DateTime) => at.setZone(ZONE).toFormat('MMMM d');

// Recorded in reminders, messages and logs: all of it is PHI the logs must not carry.
const PATIENTS = {
  ada: { firstname: 'Adaline', lastname: 'Journeyman', phone: '+12125550101' },
  bo: { firstname: 'Bolesław', lastname: 'Canceller', phone: '+12125550102' },
  wen: { firstname: 'Wenonah', lastname: 'Waitlisted', phone: '+12125550111' },
  wil: { firstname: 'Wilhelmina', lastname: 'Waitlisted', phone: '+12125550112' },
  wes: { firstname: 'Wesley', lastname: 'Waitlisted', phone: '+12125550113' },
} as const;
type Who = keyof typeof PATIENTS;

/** The answer of a call through the typed client, as a test expects it: 200 and its body. */
function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
  return answer.data!;
}

describe('the patient journey across the distributed platform', () => {
  let platform: Platform;
  let fake: TwilioFake;
  let gateway: ServiceProcess;
  let messaging: ServiceProcess;
  let scheduling: ServiceProcess;
  let publicUrl: string;

  beforeAll(async () => {
    fake = await startTwilioFake();
    platform = await startPlatform({ label: 'journey', twilio: fake, clockControl: ['scheduling', 'messaging'] });
    ({ gateway, messaging, scheduling, publicUrl } = platform);
  });

  afterAll(async () => {
    await platform?.stop();
    await fake?.close();
  });

  // The v1 API through the client generated from the merged OpenAPI document, as an integrator calls it.
  let api: PlatformClient;

  /** Moves the clocks of messaging and scheduling to the same instant (ADR 0009), as the platform's time. */
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

  /** A patient's SMS reply, as Twilio delivers it to the gateway: form-encoded, signed with the account's token over the public URL. */
  const reply = async (from: string, text: string, messageSid = `SM${randomBytes(16).toString('hex')}`) => {
    const params = {
      MessageSid: messageSid,
      SmsSid: messageSid,
      AccountSid: fake.accountSid,
      From: from,
      To: fake.from,
      Body: text,
      NumMedia: '0',
    };
    const signature = twilio.getExpectedTwilioSignature(fake.authToken, `${publicUrl}${REPLY_PATH}`, params);
    const response = await fetch(`${gateway.url}${REPLY_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    });
    return { status: response.status, twiml: await response.text(), messageSid };
  };

  const textsTo = (who: Who): FakeSend[] =>
    fake.sent.filter((send) => send.kind === 'message' && send.params['To'] === PATIENTS[who].phone);
  const remindersOf = async (appointment: string): Promise<Array<Schema<'Reminder'>>> =>
    ok(await api.GET('/api/reminders/findByApptId/{id}', { params: { path: { id: appointment }, query: { limit: 50 } } })).response;
  const appointmentStatus = async (id: string) => ok(await api.GET('/api/appointments/{id}', { params: { path: { id } } })).status;
  const offers = async () => ok(await api.GET('/api/offers')).response;
  const preview = async (who: Who, appointment: string) =>
    (
      await api.GET('/api/messageTemplates/{key}/resolve', {
        params: { path: { key: 'reminder' }, query: { patient: patient[who], appointment } },
      })
    ).data?.text ?? '';

  // What the steps pass on to each other.
  const patient = {} as Record<Who, string>;
  let provider: string;
  let facility: string;
  let type: string;
  let adaAt: DateTime;
  let boAt: DateTime;
  let adaAppointment: string;
  let boAppointment: string;
  const waitlist = {} as Record<'wen' | 'wil' | 'wes', string>;

  it('signs a clinic up, and the five patients, provider, facility and appointment type it needs', async () => {
    const signup = await createPlatformClient({ baseUrl: gateway.url }).POST('/api/users/signup', {
      body: {
        email: 'front@journey.example',
        password: 'journey passphrase',
        firstname: 'Fran',
        lastname: 'Front',
        organizationName: 'Journey Clinic',
      },
    });
    api = createPlatformClient({ baseUrl: gateway.url, token: ok(signup).token });
    for (const who of Object.keys(PATIENTS) as Who[])
      patient[who] = ok(await api.POST('/api/patients', { body: { ...PATIENTS[who], language: 'en' } }))._id;
    provider = ok(await api.POST('/api/providers', { body: { firstname: 'Grace', lastname: 'Hopper' } }))._id;
    facility = ok(await api.POST('/api/facilities', { body: { name: 'Harbor Clinic', timeZone: ZONE } }))._id;
    type = ok(await api.POST('/api/appointmentTypes', { body: { name: 'Fasting blood draw', duration: 30 } }))._id;
  });

  it('books two early appointments next week; reminders are planned at the local times the defaults give', async () => {
    // Next week, before the clinic's messaging hours open, on the day whose first reminder (a week ahead) is the next
    // 08:00 in New York still comfortably ahead: so it is planned, not skipped as past.
    const now = DateTime.now().setZone(ZONE);
    const firstReminderDay =
      now.plus({ minutes: 15 }) < now.set({ hour: 8, minute: 0, second: 0, millisecond: 0 }) ? now : now.plus({ days: 1 });
    const day = firstReminderDay.plus({ days: 7 }).startOf('day');
    adaAt = day.set({ hour: 7, minute: 30 });
    boAt = day.set({ hour: 7, minute: 0 });
    const book = async (who: Who, at: DateTime) =>
      ok(await api.POST('/api/appointments', { body: { patient: patient[who], provider, facility, type, date: at.toUTC().toISO()! } }))._id;
    adaAppointment = await book('ada', adaAt);
    boAppointment = await book('bo', boAt);

    for (const [appointment, at] of [
      [adaAppointment, adaAt],
      [boAppointment, boAt],
    ] as const) {
      const planned = await waitFor(
        async () => {
          const reminders = await remindersOf(appointment);
          return reminders.length === OFFSETS_HOURS.length ? reminders : null;
        },
        { ...WAIT, message: 'appointment.created reaches messaging, which plans the reminders' },
      );
      const byOffset = Object.fromEntries(planned.map((reminder) => [reminder['offsetHours'], reminder]));
      for (const offset of OFFSETS_HOURS) {
        expect(byOffset[offset], `the ${offset} h reminder`).toMatchObject({
          status: 'scheduled',
          sendAt: expectedSendAt(at, offset).toUTC().toISO(),
          patient: appointment === adaAppointment ? patient.ada : patient.bo,
        });
        // Outside quiet hours, in the facility's time zone.
        const local = DateTime.fromISO(byOffset[offset]['sendAt'] as string).setZone(ZONE);
        expect(local.hour * 60 + local.minute).toBeGreaterThanOrEqual(8 * 60);
        expect(local.hour).toBeLessThan(20);
      }
    }

    // Messaging has the patient, provider and facility it will name (their owners' events), as it would send it.
    await waitFor(
      async () => {
        const text = await preview('ada', adaAppointment);
        return text.includes(PATIENTS.ada.firstname) && text.includes('Grace Hopper') && text.includes('Harbor Clinic');
      },
      { ...WAIT, message: 'messaging knows the patient, provider and facility' },
    );
    await waitFor(async () => (await preview('bo', boAppointment)).includes(PATIENTS.bo.firstname), {
      ...WAIT,
      message: 'messaging knows the second patient',
    });
    expect(fake.sent).toHaveLength(0);
  });

  it('sends the week-ahead reminders when the clock reaches them, to the patients’ numbers, naming the local time', async () => {
    const first = DateTime.max(expectedSendAt(adaAt, 168), expectedSendAt(boAt, 168));
    await moveClocks(first);
    for (const [who, at] of [
      ['ada', adaAt],
      ['bo', boAt],
    ] as const) {
      const [text] = await waitFor(async () => (textsTo(who).length > 0 ? textsTo(who) : null), {
        ...WAIT,
        message: `the reminder reaches ${who} at Twilio`,
      });
      expect(text!.params['From']).toBe(fake.from);
      expect(text!.params['Body']).toContain(PATIENTS[who].firstname);
      expect(text!.params['Body']).toMatch(localTime(at));
      expect(text!.params['Body']).toContain(localDay(at));
      expect(text!.params['StatusCallback']).toMatch(new RegExp(`^${publicUrl}/api/callback/twilio/`));
    }
    // Only the week-ahead ones: the others are days away still.
    for (const appointment of [adaAppointment, boAppointment]) {
      const reminders = await waitFor(
        async () => {
          const all = await remindersOf(appointment);
          return all.find((reminder) => reminder['offsetHours'] === 168)?.['status'] === 'sent' ? all : null;
        },
        { ...WAIT, message: 'the reminder is recorded as sent' },
      );
      expect(reminders.filter((reminder) => reminder['offsetHours'] !== 168).map((reminder) => reminder['status'])).toEqual([
        'scheduled',
        'scheduled',
      ]);
    }
    expect(fake.sent).toHaveLength(2);
    expect(fake.unauthorized).toBe(0);
    // As a v1 client reads a patient's messages: a bare array, newest first, each with the vendor's id under externalId.value.
    const messages = ok(await api.GET('/api/messages', { params: { query: { patient: patient.ada } } }));
    expect(messages[0]).toMatchObject({
      direction: 'outbound',
      from: fake.from,
      to: PATIENTS.ada.phone,
      status: expect.stringMatching(/^(sent|delivered)$/),
      externalId: { value: textsTo('ada')[0]!.sid },
    });
    expect(messages[0]!.text).toBe(textsTo('ada')[0]!.params['Body']);
  });

  it('a signed C confirms the appointment; the same webhook delivered twice has one effect; an unsigned one none', async () => {
    const forged = await fetch(`${gateway.url}${REPLY_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl' },
      body: new URLSearchParams({ MessageSid: 'SMforged', From: PATIENTS.ada.phone, To: fake.from, Body: 'X' }).toString(),
    });
    expect(forged.status).toBe(403);

    const confirm = await reply(PATIENTS.ada.phone, 'C');
    expect(confirm.status).toBe(200);
    expect(confirm.twiml).toContain('<Response');
    const again = await reply(PATIENTS.ada.phone, 'C', confirm.messageSid);
    expect(again.status).toBe(200);
    expect(again.twiml).not.toContain('<Message');

    await waitFor(async () => (await appointmentStatus(adaAppointment)) === 'confirmed', {
      ...WAIT,
      message: 'reply.received reaches scheduling, which confirms',
    });
    const inbound = ok(await api.GET('/api/messages', { params: { query: { patient: patient.ada, type: 'inbound' } } }));
    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({
      text: 'C',
      direction: 'inbound',
      from: PATIENTS.ada.phone,
      to: fake.from,
      externalId: { value: confirm.messageSid },
      classification: 'positive',
      appointment: adaAppointment,
    });
    // appointment.confirmed comes back to messaging, which shows the answered reminder as confirmed.
    await waitFor(
      async () => (await remindersOf(adaAppointment)).find((reminder) => reminder['offsetHours'] === 168)?.['status'] === 'confirmed',
      {
        ...WAIT,
        message: 'messaging marks the answered reminder confirmed',
      },
    );
    // The forged X changed nothing.
    expect(await appointmentStatus(adaAppointment)).toBe('confirmed');
  });

  // Bo's two texts are spaced by the default 30 s between texts to one patient: more time than most tests need.
  it('an X cancels the second appointment, and its slot is texted to the three patients waiting for that provider', async () => {
    for (const who of ['wen', 'wil', 'wes'] as const)
      waitlist[who] = ok(await api.POST('/api/waitlists', { body: { patient: patient[who], provider } }))._id;

    const cancel = await reply(PATIENTS.bo.phone, 'X');
    expect(cancel.status).toBe(200);
    await waitFor(async () => (await appointmentStatus(boAppointment)) === 'cancelled', {
      ...WAIT,
      message: 'scheduling cancels on the patient’s X',
    });
    // Its reminders not sent yet are void.
    await waitFor(
      async () =>
        (await remindersOf(boAppointment))
          .filter((reminder) => reminder['offsetHours'] !== null && reminder['offsetHours'] !== 168)
          .every((reminder) => reminder['status'] === 'skipped'),
      { ...WAIT, message: 'messaging voids the cancelled appointment’s reminders' },
    );

    for (const who of ['wen', 'wil', 'wes'] as const) {
      const offer = await waitFor(async () => textsTo(who).find((text) => /reply YES/i.test(text.params['Body'] ?? '')) ?? null, {
        ...WAIT,
        message: `the offer reaches ${who}`,
      });
      expect(offer.params['Body']).toContain(PATIENTS[who].firstname);
      expect(offer.params['Body']).toMatch(localTime(boAt));
      expect(offer.params['Body']).toContain(localDay(boAt));
    }
    // Bo is told the cancellation, then invited to reply WAITLIST, in that order.
    const invite = await waitFor(
      async () => {
        const index = textsTo('bo').findIndex((text) => /Reply WAITLIST/.test(text.params['Body'] ?? ''));
        return index > 0 ? index : null;
      },
      { ...WAIT, message: 'Bo is invited to reply WAITLIST' },
    );
    expect(textsTo('bo')[invite - 1]!.params['Body']).toMatch(/is cancelled/);
    const open = await offers();
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({
      status: 'in-progress',
      source: 'cancellation',
      cancelledAppointment: boAppointment,
      date: boAt.toUTC().toISO(),
    });
  }, 150_000);

  it('two YES at the same moment: exactly one gets the slot, the other is told it is taken', async () => {
    const [wen, wil] = await Promise.all([reply(PATIENTS.wen.phone, 'YES'), reply(PATIENTS.wil.phone, 'Yes')]);
    expect([wen.status, wil.status]).toEqual([200, 200]);

    const offer = await waitFor(
      async () => {
        const [current] = await offers();
        return current?.status === 'patient-found' ? current : null;
      },
      { ...WAIT, message: 'scheduling gives the slot to the first YES' },
    );
    const winner = offer['patientFound'] === patient.wen ? 'wen' : 'wil';
    const loser = winner === 'wen' ? 'wil' : 'wen';
    expect(offer['patientFound']).toBe(patient[winner]);

    const slot = boAt.toUTC().toISO()!;
    const booked = ok(await api.GET('/api/appointments', { params: { query: { provider, date: [`>=${slot}`, `<=${slot}`] } } }));
    const live = booked.response.filter((appointment) => appointment.status !== 'cancelled');
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ _id: offer['usedForAppointment'], patient: patient[winner], source: 'waitlist' });

    const entries = Object.fromEntries(
      await Promise.all(
        (['wen', 'wil', 'wes'] as const).map(async (who) => [
          who,
          ok(await api.GET('/api/waitlists/{id}', { params: { path: { id: waitlist[who] } } })).status,
        ]),
      ),
    );
    expect(entries).toEqual({ [winner]: 'accepted', [loser]: 'waiting', wes: 'waiting' });

    const booking = await waitFor(async () => textsTo(winner).find((text) => /booked/.test(text.params['Body'] ?? '')) ?? null, {
      ...WAIT,
      message: 'the winner is told the slot is theirs',
    });
    expect(booking.params['Body']).toMatch(localTime(boAt));
    for (const who of [loser, 'wes'] as const) {
      const taken = await waitFor(async () => textsTo(who).find((text) => /no longer available/.test(text.params['Body'] ?? '')) ?? null, {
        ...WAIT,
        message: `${who} is told the slot is taken`,
      });
      expect(taken.params['Body']).toMatch(localTime(boAt));
    }
    expect(textsTo(winner).filter((text) => /no longer available/.test(text.params['Body'] ?? ''))).toHaveLength(0);
    expect(textsTo(loser).filter((text) => /booked/.test(text.params['Body'] ?? ''))).toHaveLength(0);
    expect(textsTo(loser)).toHaveLength(2);
  });

  it('STOP: the patient is answered once, then nothing more is sent to them', async () => {
    // Whatever messaging still had to say about the confirmation has gone out before the patient stops.
    await waitFor(
      async () =>
        (await remindersOf(adaAppointment)).every(
          (reminder) => reminder['status'] !== 'queued' && (reminder['offsetHours'] !== null || reminder['status'] !== 'scheduled'),
        ),
      {
        ...WAIT,
        message: 'messaging has nothing pending for the patient but the later reminders',
      },
    );
    const before = textsTo('ada').length;

    const stop = await reply(PATIENTS.ada.phone, 'STOP');
    expect(stop.status).toBe(200);
    expect(stop.twiml.match(/<Message>/g)).toHaveLength(1);
    expect(stop.twiml).toContain('no more messages');
    const duplicate = await reply(PATIENTS.ada.phone, 'STOP', stop.messageSid);
    expect(duplicate.twiml).not.toContain('<Message');

    // Their later reminders are blocked at once; staff cannot write to them either.
    const later = (await remindersOf(adaAppointment)).filter(
      (reminder) => reminder['offsetHours'] === 96 || reminder['offsetHours'] === 48,
    );
    expect(later.map((reminder) => [reminder['status'], reminder['statusReason']])).toEqual([
      ['blocked', 'do-not-contact'],
      ['blocked', 'do-not-contact'],
    ]);
    const staff = await api.POST('/api/messages', { body: { patient: patient.ada, text: 'Please call us back.' } });
    expect(staff.response.status).toBe(409);

    // Move the platform to the four-days-ahead reminders: the slot's new holder gets theirs, the patient who stopped nothing.
    const winnerAppointment = (await offers())[0]!.usedForAppointment!;
    const winnerFourDays = await waitFor(
      async () => (await remindersOf(winnerAppointment)).find((reminder) => reminder['offsetHours'] === 96) ?? null,
      { ...WAIT, message: 'the new booking has reminders' },
    );
    expect(winnerFourDays['sendAt']).toBe(expectedSendAt(boAt, 96).toUTC().toISO());
    await moveClocks(DateTime.max(expectedSendAt(adaAt, 96), expectedSendAt(boAt, 96)).plus({ minutes: 1 }));
    await waitFor(
      async () => (await remindersOf(winnerAppointment)).find((reminder) => reminder['offsetHours'] === 96)?.['status'] === 'sent',
      {
        ...WAIT,
        message: 'the dispatcher passes the four-days-ahead reminders',
      },
    );
    expect(textsTo('ada')).toHaveLength(before);
    expect((await remindersOf(adaAppointment)).find((reminder) => reminder['offsetHours'] === 96)).toMatchObject({
      status: 'blocked',
      sentAt: null,
    });
  });

  it('reports messaging healthy, and stops every process cleanly, having logged no PHI', async () => {
    // Degraded (not ok) while a consumer group is between members, as in a rebalance: that passes within a session.
    const messaging = async () => (await api.GET('/api/status')).data?.services.find((service) => service.name === 'messaging');
    await waitFor(async () => (await messaging())?.['status'] === 'ok', { ...WAIT, message: 'messaging reported ok' });
    expect(await messaging()).toMatchObject({ name: 'messaging', status: 'ok', checks: { database: 'ok', broker: 'ok' } });
    for (const service of [...platform.services].reverse())
      expect(await service.stop(), `${service.name}:\n${service.output().slice(-1_500)}`).toBe(0);
    const logs = platform.services.map((service) => service.output()).join('\n');
    for (const person of Object.values(PATIENTS)) {
      for (const phi of [person.firstname, person.lastname, person.phone, person.phone.slice(2)]) expect(logs).not.toContain(phi);
    }
    for (const phi of ['front@journey.example', 'journey passphrase', 'Please call us back', 'no more messages'])
      expect(logs).not.toContain(phi);
  });
});
