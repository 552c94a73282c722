import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_PATH, signedReply, TOKEN_FILE } from '../../../scripts/sms-reply.mjs';
import { startPlatform, type RunningPlatform } from './platform.js';

/** A clock the test moves by hand; scheduling and messaging read it, auth keeps the real time. */
function movableClock(start: string) {
  let now = new Date(start);
  const clock = () => now;
  clock.set = (at: string) => {
    now = new Date(at);
  };
  return clock;
}

/** An instant as a wall clock in New York, e.g. 2026-05-05 10:00. */
const newYork = (iso: string) =>
  new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'America/New_York',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;
interface Message {
  _id: string;
  type: 'inbound' | 'outbound';
  channel: string;
  status: string;
  key: string | null;
  to: string | null;
  subject: string | null;
  text: string;
  externalStatus: Record<string, unknown> | null;
  offer: string | null;
  appointment: string | null;
}

// The walking skeleton of DESIGN.md, played as a clinic and its patients would on a laptop: everything in one process
// on PGlite and the in-process bus, texts to the development sink, replies signed with the sink's token the way
// scripts/sms-reply.mjs signs them.
describe('embedded platform: a patient journey from booking to STOP, through the gateway', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  // Monday 4 May 2026, 09:00 in New York.
  const clock = movableClock('2026-05-04T13:00:00Z');
  const PUBLIC_URL = 'https://clinic.example';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-journey-'));
    platform = await startPlatform({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      publicUrl: PUBLIC_URL,
      clock,
      dispatchIntervalMs: 100,
    });
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  let token = '';
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await api(method, path, body);
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
    return response.body;
  };
  const messagesOf = async (patient: string): Promise<Message[]> =>
    (await ok('GET', `/api/messages?patient=${patient}&limit=100`)) as unknown as Message[];
  const outboundOf = async (patient: string, key: string) =>
    (await messagesOf(patient)).filter((message) => message.type === 'outbound' && message.key === key);
  /** Waits for the dispatcher to have sent the patient a text of that kind (its record is listed while pending too), and answers it. */
  const sent = (patient: string, key: string, what: string) =>
    waitFor(async () => (await outboundOf(patient, key)).find((message) => message.status !== 'pending'), {
      timeoutMs: 20_000,
      message: what,
    });
  /** A patient's SMS reply, as the vendor would post it and exactly as the developer's script signs it. */
  const reply = async (from: string, text: string) => {
    const sinkToken = (await readFile(platform.smsWebhookTokenFile, 'utf8')).trim();
    const signed = signedReply({ token: sinkToken, publicUrl: PUBLIC_URL, from, text });
    const response = await fetch(`${platform.url}${signed.path}`, { method: 'POST', headers: signed.headers, body: signed.body });
    return { status: response.status, twiml: await response.text() };
  };

  it(
    'books, reminds at local times, reads C and X, offers the freed slot, gives it to one of two YES, and obeys STOP',
    { timeout: 240_000 },
    async () => {
      // The clinic signs up and sets up a provider, a facility in New York and a type of visit.
      const signup = await api('POST', '/api/users/signup', {
        email: 'owner@main-street.example',
        password: 'correct horse battery staple',
        firstname: 'Olive',
        lastname: 'Owner',
        organizationName: 'Main Street Clinic',
      });
      expect(signup.status).toBe(200);
      token = signup.body['token'];
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
      const type = await ok('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
      const slot = { provider: provider['_id'], facility: facility['_id'], type: type['_id'] };

      const patient = (firstname: string, contact: { phone?: string; email?: string }) =>
        ok('POST', '/api/patients', { firstname, lastname: 'Lovelace', ...contact });
      const pat = await patient('Pat', { phone: '415-555-2671' });
      const quinn = await patient('Quinn', { phone: '415-555-2672' });
      const waiting = [
        await patient('Wendy', { phone: '415-555-2673' }),
        await patient('Walt', { phone: '415-555-2674' }),
        await patient('Willa', { phone: '415-555-2675' }),
      ];
      const emma = await patient('Emma', { email: 'emma@example.test' });
      expect(pat).toMatchObject({ phone: '+14155552671' });
      for (const entry of waiting)
        await ok('POST', '/api/waitlists', {
          patient: entry['_id'],
          provider: slot.provider,
          facility: slot.facility,
          appointmentType: slot.type,
        });

      // Next Tuesday, 12 May: Emma at 9:00, Pat at 10:00, Quinn at 11:00 (New York time).
      const book = (who: Body, date: string) => ok('POST', '/api/appointments', { patient: who['_id'], ...slot, date });
      const emmaVisit = await book(emma, '2026-05-12T13:00:00.000Z');
      const patVisit = await book(pat, '2026-05-12T14:00:00.000Z');
      const quinnVisit = await book(quinn, '2026-05-12T15:00:00.000Z');
      expect(patVisit).toMatchObject({ status: 'unconfirmed' });

      // Reminders a week, four days and two days before (the defaults), at the appointment's local time of day.
      const remindersOf = async (visit: Body): Promise<Body[]> =>
        (await ok('GET', `/api/reminders/findByApptId/${visit['_id']}`))['response'];
      const planned = await waitFor(
        async () => {
          const list = await remindersOf(patVisit);
          return list.length === 3 ? list : null;
        },
        { timeoutMs: 20_000, message: 'reminders planned from appointment.created' },
      );
      expect(planned.map((reminder) => [reminder['offsetHours'], newYork(reminder['sendAt']), reminder['status']])).toEqual([
        [168, '2026-05-05 10:00', 'scheduled'],
        [96, '2026-05-08 10:00', 'scheduled'],
        [48, '2026-05-10 10:00', 'scheduled'],
      ]);
      await waitFor(async () => (await remindersOf(emmaVisit)).length === 3 && (await remindersOf(quinnVisit)).length === 3, {
        timeoutMs: 20_000,
        message: 'every appointment planned',
      });

      // Tuesday 5 May, 9:59: Emma's reminder (9:00) is due, Pat's (10:00) is not. Emma has no phone: hers is an e-mail.
      clock.set('2026-05-05T13:59:00Z');
      const emmaMail = await sent(emma['_id'], 'reminder', "Emma's e-mail reminder sent");
      expect(emmaMail).toMatchObject({
        channel: 'email',
        status: 'sent',
        to: 'emma@example.test',
        externalStatus: { sink: true },
        appointment: emmaVisit['_id'],
      });
      const mails = await Promise.all((await readdir(platform.mailDir)).map((name) => readFile(join(platform.mailDir, name), 'utf8')));
      const toEmma = mails.filter((mail) => /^To: emma@example\.test$/m.test(mail));
      expect(toEmma).toHaveLength(1);
      expect(toEmma[0]).toContain(`Subject: ${emmaMail.subject}`);
      expect(await outboundOf(pat['_id'], 'reminder')).toEqual([]);

      // 10:00:30: Pat's first reminder goes to the development sink, and is listed as sent there.
      clock.set('2026-05-05T14:00:30Z');
      const patReminder = await sent(pat['_id'], 'reminder', "Pat's reminder sent");
      expect(patReminder).toMatchObject({
        channel: 'sms',
        status: 'sent',
        to: '+14155552671',
        externalStatus: { sink: true },
        appointment: patVisit['_id'],
      });
      expect(patReminder.text).toContain('Tuesday, May 12, 2026');
      expect(patReminder.text).toContain('Reply YES to confirm or NO to cancel');
      expect((await remindersOf(patVisit)).map((reminder) => reminder['status'])).toEqual(['sent', 'scheduled', 'scheduled']);

      // An unsigned reply, or one signed with another token, is refused: the sink keeps Twilio's signature check.
      const forged = signedReply({ token: 'not-the-sink-token', publicUrl: PUBLIC_URL, from: '+14155552671', text: 'X' });
      expect((await fetch(`${platform.url}${REPLY_PATH}`, { method: 'POST', headers: forged.headers, body: forged.body })).status).toBe(
        403,
      );

      // Pat replies C: scheduling confirms the appointment, and messaging acknowledges it.
      expect((await reply('+14155552671', 'C')).status).toBe(200);
      await waitFor(async () => (await ok('GET', `/api/appointments/${patVisit['_id']}`))['status'] === 'confirmed', {
        timeoutMs: 20_000,
        message: "Pat's appointment confirmed by the reply",
      });
      const confirmed = await sent(pat['_id'], 'confirmation-ack', 'confirmation acknowledged');
      expect(confirmed).toMatchObject({ status: 'sent', externalStatus: { sink: true } });
      expect((await remindersOf(patVisit))[0]).toMatchObject({ status: 'confirmed' });
      expect((await messagesOf(pat['_id'])).find((message) => message.type === 'inbound')).toMatchObject({
        text: 'C',
        channel: 'sms',
        appointment: patVisit['_id'],
      });

      // 11:00:30: Quinn's reminder; Quinn replies X and the appointment is cancelled, which frees the slot.
      clock.set('2026-05-05T15:00:30Z');
      await sent(quinn['_id'], 'reminder', "Quinn's reminder sent");
      expect((await reply('415-555-2672', 'X')).status).toBe(200);
      await waitFor(async () => (await ok('GET', `/api/appointments/${quinnVisit['_id']}`))['status'] === 'cancelled', {
        timeoutMs: 20_000,
        message: "Quinn's appointment cancelled by the reply",
      });
      await sent(quinn['_id'], 'cancellation-ack', 'cancellation acknowledged');
      // Half a minute later, the invitation: two texts to one patient keep their distance (ADR 0027).
      clock.set('2026-05-05T15:01:00Z');
      expect((await sent(quinn['_id'], 'waitlist-invite', 'invited to reply WAITLIST')).text).toContain('Reply WAITLIST');

      // Scheduling offers the freed slot to the three waitlisted patients; messaging texts each of them.
      const offers = await Promise.all(waiting.map((entry) => sent(entry['_id'], 'offer', 'offer texted')));
      const offerId = offers[0]!.offer;
      expect(offerId).toBeTruthy();
      expect(offers.map((offer) => offer.offer)).toEqual([offerId, offerId, offerId]);
      expect(offers[0]!.text).toContain('Tuesday, May 12, 2026 at 11:00 AM');
      expect(offers[0]!.text).toContain('The first patient to reply YES gets it');
      expect(await ok('GET', `/api/offers/${offerId}`)).toMatchObject({ status: 'in-progress', source: 'cancellation' });

      // Wendy and Walt reply YES at once: exactly one gets the slot, the other is told it is taken.
      const [wendy, walt, willa] = waiting as [Body, Body, Body];
      const answers = await Promise.all([reply('415-555-2673', 'YES'), reply('415-555-2674', 'yes')]);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
      const offer = await waitFor(
        async () => {
          const current = await ok('GET', `/api/offers/${offerId}`);
          return current['status'] === 'patient-found' ? current : null;
        },
        { timeoutMs: 20_000, message: 'offer taken' },
      );
      const [winner, loser] = offer['patientFound'] === wendy['_id'] ? [wendy, walt] : [walt, wendy];
      expect([wendy['_id'], walt['_id']]).toContain(offer['patientFound']);
      const booked = async (who: Body): Promise<Body[]> => (await ok('GET', `/api/appointments/getByPatientId/${who['_id']}`))['response'];
      expect(await booked(winner)).toEqual([
        expect.objectContaining({ _id: offer['usedForAppointment'], date: '2026-05-12T15:00:00.000Z', status: 'unconfirmed' }),
      ]);
      expect(await booked(loser)).toEqual([]);
      expect(await booked(willa)).toEqual([]);
      expect(await sent(winner['_id'], 'offer-accepted', 'winner told of the booking')).toMatchObject({
        offer: offerId,
        externalStatus: { sink: true },
      });
      // The others are told the slot is taken once half a minute has passed since their offer text (ADR 0027's spacing).
      clock.set('2026-05-05T15:01:30Z');
      expect((await sent(loser['_id'], 'offer-taken', 'the other YES told the slot is taken')).text).toContain('no longer available');
      await sent(willa['_id'], 'offer-taken', 'the patient who did not answer told too');
      expect(await outboundOf(loser['_id'], 'offer-accepted')).toEqual([]);

      // Pat texts STOP: one confirmation in the webhook's answer, and nothing after it.
      const stop = await reply('+14155552671', 'STOP');
      expect(stop.status).toBe(200);
      const stopAck = await outboundOf(pat['_id'], 'stop-ack');
      expect(stopAck).toHaveLength(1);
      expect(stop.twiml).toContain(`<Message>${stopAck[0]!.text}</Message>`);
      const beforeStop = (await messagesOf(pat['_id'])).filter((message) => message.type === 'outbound').length;

      // Sunday 10 May, noon: the reminders of the 8th and the 10th fall due at once, as after an outage. Emma gets the
      // latest only, the 8th's is superseded (ADR 0027); Pat gets nothing more.
      clock.set('2026-05-10T16:00:00Z');
      const statuses = async (visit: Body) =>
        (await remindersOf(visit)).map((reminder) => `${reminder['messageTemplate'] ?? reminder['offsetHours']}:${reminder['status']}`);
      await waitFor(async () => (await statuses(emmaVisit)).join() === '168:sent,96:skipped,48:sent', {
        timeoutMs: 20_000,
        message: "Emma's latest reminder sent, the one it supersedes skipped",
      });
      expect((await remindersOf(emmaVisit)).find((reminder) => reminder['offsetHours'] === 96)).toMatchObject({
        statusReason: 'superseded',
      });
      expect((await outboundOf(emma['_id'], 'reminder')).filter((message) => message.status === 'sent')).toHaveLength(2);
      await waitFor(async () => (await statuses(patVisit)).join() === '168:confirmed,confirmation-ack:sent,96:blocked,48:blocked', {
        timeoutMs: 20_000,
        message: "Pat's later reminders blocked",
      });
      expect((await messagesOf(pat['_id'])).filter((message) => message.type === 'outbound')).toHaveLength(beforeStop);
      expect(beforeStop).toBe(3); // the reminder, the confirmation, the STOP confirmation

      // The data folder keeps the sink's webhook token where the script looks for it, readable by its owner only.
      expect(platform.smsWebhookTokenFile).toBe(join(dataDir, TOKEN_FILE));
      expect((await stat(platform.smsWebhookTokenFile)).mode & 0o777).toBe(0o600);
    },
  );
});
