import { randomBytes } from 'node:crypto';
import { startTwilioFake, waitFor, type FakeSend, type TwilioFake } from '@pep/testing';
import { createPlatformClient, type PlatformClient, type Schema } from '@pep/client';
import { DateTime } from 'luxon';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from './platform.js';
import type { ServiceProcess } from './processes.js';

// The referral pipeline of issue 13 on the distributed runtime: patients keeps the referral, messaging reaches the
// patient by text on the organization's attempt schedule, scheduling books the visit, each in its own process on its own
// database, talking through a real Kafka broker. Texts go to a stand-in speaking Twilio's REST API and the patient's
// answer comes back as Twilio's signed webhook through the gateway. Outreach runs over days, so patients, messaging and
// scheduling run on one clock the test moves (ADR 0009).

// Far from UTC and without daylight saving time, so "08:00 local" is one UTC hour all year.
const ZONE = 'Pacific/Honolulu';
// The organization's defaults (auth's settings): outreach on days 0, 2, 5 and 10, never outside 08:00–20:00 local.
const OUTREACH_DAYS = [0, 2, 5, 10];
const OPENS = { hour: 8, minute: 0, second: 0, millisecond: 0 };
const REPLY_PATH = '/api/callback/sms/referrals';
const WAIT = { timeoutMs: 45_000, intervalMs: 250 };

// Recorded in referrals, messages and logs: all of it is PHI the logs must not carry.
const PATIENTS = {
  ren: { firstname: 'Renata', lastname: 'Referred', phone: '+18085550131' },
  ivo: { firstname: 'Ivo', lastname: 'Unanswering', phone: '+18085550132' },
} as const;
type Who = keyof typeof PATIENTS;

/** The answer of a call through the typed client, as a test expects it: 200 and its body. */
function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
  return answer.data!;
}

describe('a referral across the distributed platform: received, reached out to, answered, scheduled; another expires', () => {
  let platform: Platform;
  let fake: TwilioFake;
  let gateway: ServiceProcess;
  let clocked: ServiceProcess[];
  let publicUrl: string;

  beforeAll(async () => {
    fake = await startTwilioFake();
    platform = await startPlatform({
      label: 'referrals',
      // Lapsed referrals are looked for every 2 s here (60 s by default).
      services: { patients: { REFERRAL_EXPIRY_SECONDS: '2' } },
      twilio: fake,
      clockControl: ['patients', 'scheduling', 'messaging'],
    });
    ({ gateway, publicUrl } = platform);
    clocked = [platform.patients, platform.scheduling, platform.messaging];
  });

  afterAll(async () => {
    await platform?.stop();
    await fake?.close();
  });

  let api: PlatformClient;

  /** Moves the clocks of patients, messaging and scheduling to the same instant (ADR 0009), as the platform's time. */
  const moveClocks = async (to: DateTime) => {
    for (const service of clocked) {
      const response = await fetch(`${service.url}/internal/clock`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ now: to.toUTC().toISO() }),
      });
      expect(response.status, service.name).toBe(200);
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
  const referralOf = async (id: string): Promise<Schema<'Referral'>> =>
    ok(await api.GET('/api/referrals/{id}', { params: { path: { id } } }));
  const referralIn = (id: string, status: Schema<'Referral'>['status'], what: string) =>
    waitFor(
      async () => {
        const referral = await referralOf(id);
        return referral.status === status ? referral : null;
      },
      { ...WAIT, message: what },
    );
  /** The outreach attempts messaging planned for the patient, by attempt number. */
  const attemptsOf = async (who: Who): Promise<Array<Schema<'Reminder'>>> =>
    ok(await api.GET('/api/reminders/findByPatientId/{id}', { params: { path: { id: patient[who] }, query: { limit: 50 } } }))
      .response.filter((reminder) => reminder['referral'] !== null)
      .sort((a, b) => (a['referralAttempt'] as number) - (b['referralAttempt'] as number));
  const journeyOf = async (who: Who) =>
    (
      ok(await api.GET('/api/patients/{id}/journey', { params: { path: { id: patient[who] } } })).response as Array<{
        type: string;
        summary: Record<string, unknown>;
      }>
    ).filter((entry) => entry.type.startsWith('referral.'));

  // What the steps pass on to each other.
  const patient = {} as Record<Who, string>;
  const referral = {} as Record<Who, string>;
  let provider: string;
  let facility: string;
  let type: string;
  // 02:00 in Honolulu, a week and a half from now: night at the clinic, when no text may go.
  const start = DateTime.now().setZone(ZONE).plus({ days: 10 }).set({ hour: 2, minute: 0, second: 0, millisecond: 0 });
  /** When attempt `n` (from 1) must go: its outreach day after the start, moved out of the night to 08:00 local. */
  const attemptAt = (n: number) => start.plus({ days: OUTREACH_DAYS[n - 1]! }).set(OPENS);

  it('receives a referral pending at night in the clinic, approves it, and plans its outreach at 08:00 local', async () => {
    await moveClocks(start);
    const signup = await createPlatformClient({ baseUrl: gateway.url }).POST('/api/users/signup', {
      body: {
        email: 'desk@referrals.example',
        password: 'referrals passphrase',
        firstname: 'Dora',
        lastname: 'Desk',
        organizationName: 'Referral Clinic',
      },
    });
    api = createPlatformClient({ baseUrl: gateway.url, token: ok(signup).token });
    facility = ok(await api.POST('/api/facilities', { body: { name: 'Kona Clinic', timeZone: ZONE } }))._id;
    provider = ok(await api.POST('/api/providers', { body: { firstname: 'Grace', lastname: 'Hopper' } }))._id;
    type = ok(await api.POST('/api/appointmentTypes', { body: { name: 'Cardiology consult', duration: 30 } }))._id;
    for (const who of Object.keys(PATIENTS) as Who[])
      patient[who] = ok(await api.POST('/api/patients', { body: { ...PATIENTS[who], language: 'en' } }))._id;
    // Outreach is planned in the facility's zone: messaging must have heard of the facility before the approval.
    await waitFor(async () => (await api.GET('/api/broadcasts/patients', { params: { query: { facility } } })).response.status === 200, {
      ...WAIT,
      message: 'facility.created reaches messaging',
    });

    const received = ok(
      await api.POST('/api/referrals', {
        body: {
          patient: patient.ren,
          facility,
          provider,
          appointmentType: type,
          referringProvider: { name: 'Dr. Kalani Referrer' },
          name: 'Cardiology consult',
        },
      }),
    );
    referral.ren = received._id;
    expect(received).toMatchObject({ status: 'pending', attempt: 0, lastAttemptSentAt: null, source: 'ui' });
    expect(DateTime.fromISO(received.startOn).setZone(ZONE).hour).toBe(2);
    // The second patient's referral lapses three days in, between the second attempt and the third.
    const lapsing = ok(
      await api.POST('/api/referrals', {
        body: { patient: patient.ivo, facility, provider, expireAt: start.plus({ days: 3 }).toUTC().toISO()! },
      }),
    );
    referral.ivo = lapsing._id;

    // Pending: reviewed before anyone is contacted.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await attemptsOf('ren')).toEqual([]);

    for (const who of Object.keys(PATIENTS) as Who[]) {
      const approved = ok(await api.POST('/api/referrals/{id}/approve', { params: { path: { id: referral[who] } }, body: {} }));
      expect(approved.status).toBe('active');
    }
    // Approving twice is a transition the state machine refuses.
    expect((await api.POST('/api/referrals/{id}/approve', { params: { path: { id: referral.ren } }, body: {} })).response.status).toBe(409);

    const planned = await waitFor(
      async () => {
        const attempts = await attemptsOf('ren');
        return attempts.length === OUTREACH_DAYS.length ? attempts : null;
      },
      { ...WAIT, message: 'referral.status-changed (active) reaches messaging, which plans the outreach' },
    );
    expect(planned.map((attempt) => [attempt['referralAttempt'], attempt['sendAt'], attempt['status'], attempt['type']])).toEqual(
      OUTREACH_DAYS.map((_, index) => [
        index + 1,
        attemptAt(index + 1)
          .toUTC()
          .toISO(),
        'scheduled',
        'referral',
      ]),
    );
    await waitFor(async () => (await attemptsOf('ivo')).length === OUTREACH_DAYS.length, {
      ...WAIT,
      message: 'the second referral’s outreach planned',
    });
    expect(fake.sent).toHaveLength(0);
  });

  it('sends the first text when the clinic opens, not before, and patients counts the attempt', async () => {
    // 07:59 in Honolulu: still quiet hours, nothing goes.
    await moveClocks(attemptAt(1).minus({ minutes: 1 }));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(fake.sent).toHaveLength(0);
    expect((await attemptsOf('ren'))[0]!['status']).toBe('scheduled');

    await moveClocks(attemptAt(1));
    for (const who of Object.keys(PATIENTS) as Who[]) {
      const [text] = await waitFor(async () => (textsTo(who).length > 0 ? textsTo(who) : null), {
        ...WAIT,
        message: `the first outreach text reaches ${who} at Twilio`,
      });
      expect(text!.params['From']).toBe(fake.from);
      expect(text!.params['Body']).toContain(PATIENTS[who].firstname);
      expect(text!.params['Body']).toContain('Kona Clinic');
      expect(text!.params['Body']).toMatch(/reply YES/i);
    }
    const counted = await waitFor(
      async () => {
        const current = await referralOf(referral.ren);
        return current.attempt === 1 && current.lastAttemptSentAt ? current : null;
      },
      { ...WAIT, message: 'referral.outreach-sent reaches patients, which counts attempt 1' },
    );
    // Sent within the clinic's first minutes, by the platform's clock.
    const sentAt = DateTime.fromISO(counted.lastAttemptSentAt!);
    expect(sentAt >= attemptAt(1)).toBe(true);
    expect(sentAt.diff(attemptAt(1), 'minutes').minutes).toBeLessThan(2);
    expect(counted.status).toBe('active');
    expect((await attemptsOf('ren')).map((attempt) => attempt['status'])).toEqual(['sent', 'scheduled', 'scheduled', 'scheduled']);
    expect(textsTo('ren')).toHaveLength(1);
  });

  it('sends the second attempt two days later, with no answer to the first', async () => {
    await moveClocks(attemptAt(2));
    await waitFor(async () => textsTo('ren').length === 2 && textsTo('ivo').length === 2, {
      ...WAIT,
      message: 'the second outreach texts reach Twilio',
    });
    const counted = await waitFor(
      async () => {
        const current = await referralOf(referral.ren);
        return current.attempt === 2 ? current : null;
      },
      { ...WAIT, message: 'patients counts attempt 2' },
    );
    expect(DateTime.fromISO(counted.lastAttemptSentAt!) >= attemptAt(2)).toBe(true);
    expect(counted.status).toBe('active');
  });

  it('the patient answers YES through the signed webhook: the referral is called, the follow-up pending, outreach stops', async () => {
    const forged = await fetch(`${gateway.url}${REPLY_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bm90IGEgc2lnbmF0dXJl' },
      body: new URLSearchParams({ MessageSid: 'SMforged', From: PATIENTS.ren.phone, To: fake.from, Body: 'YES' }).toString(),
    });
    expect(forged.status).toBe(403);

    const yes = await reply(PATIENTS.ren.phone, 'YES');
    expect(yes.status).toBe(200);
    // The answer travels in the webhook's response: the clinic will call.
    expect(yes.twiml).toMatch(/<Message>Thank you, Renata\. The clinic will call you/);
    // The same webhook delivered again has one effect, and is not answered twice.
    const again = await reply(PATIENTS.ren.phone, 'YES', yes.messageSid);
    expect(again.status).toBe(200);
    expect(again.twiml).not.toContain('<Message');

    const called = await referralIn(referral.ren, 'called', 'referral.answered reaches patients, which marks the referral called');
    expect(called).toMatchObject({ processedReferralFollowup: 'pending', attempt: 2 });
    expect(called.calledAt).not.toBeNull();
    // The attempts still ahead are void: the clinic calls now.
    await waitFor(
      async () =>
        (await attemptsOf('ren')).map((attempt) => `${attempt['status']}:${attempt['statusReason'] ?? ''}`).join() ===
        'sent:,sent:,skipped:referral-called,skipped:referral-called',
      { ...WAIT, message: 'referral.status-changed (called) voids the remaining attempts in messaging' },
    );
    const inbound = ok(await api.GET('/api/messages', { params: { query: { patient: patient.ren, type: 'inbound' } } }));
    expect(inbound).toHaveLength(1);
    expect(inbound[0]).toMatchObject({ text: 'YES', direction: 'inbound', from: PATIENTS.ren.phone });
  });

  it('staff book the visit for the referral: it is scheduled by that appointment, and the journey shows every move', async () => {
    // Three days in: past the second referral's expireAt, before the first one's.
    await moveClocks(start.plus({ days: 3, hours: 7 }));
    const visitAt = start.plus({ days: 7 }).set({ hour: 10 });
    const visit = ok(
      await api.POST('/api/appointments', {
        body: { patient: patient.ren, provider, facility, type, date: visitAt.toUTC().toISO()!, referral: referral.ren },
      }),
    );
    expect(visit.referral).toBe(referral.ren);
    const scheduled = await referralIn(referral.ren, 'scheduled', 'appointment.created reaches patients, which schedules the referral');
    expect(scheduled.scheduledByAppointment).toBe(visit._id);
    const scheduledAt = DateTime.fromISO(scheduled.scheduledAt!);
    expect(scheduledAt >= start.plus({ days: 3, hours: 7 })).toBe(true);
    expect(scheduledAt < start.plus({ days: 3, hours: 8 })).toBe(true);

    const journey = await waitFor(
      async () => {
        const entries = await journeyOf('ren');
        return entries.length === 4 ? entries : null;
      },
      { ...WAIT, message: 'the referral’s moves reach the patient’s journey' },
    );
    expect(journey.map((entry) => [entry.type, entry.summary['status']])).toEqual([
      ['referral.created', 'pending'],
      ['referral.status-changed', 'active'],
      ['referral.status-changed', 'called'],
      ['referral.status-changed', 'scheduled'],
    ]);
    expect(journey[3]!.summary).toMatchObject({ referral: referral.ren, previousStatus: 'called', scheduledByAppointment: visit._id });
  });

  it('the referral nobody answered expires at its expireAt, and its remaining outreach is void', { timeout: 120_000 }, async () => {
    // Patients looks for lapsed referrals every 2 s here.
    const expired = await waitFor(
      async () => {
        const current = await referralOf(referral.ivo);
        return current.status === 'expired' ? current : null;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the expiry sweep expires the unanswered referral' },
    );
    expect(expired).toMatchObject({ attempt: 2, scheduledByAppointment: null });
    await waitFor(
      async () =>
        (await attemptsOf('ivo')).map((attempt) => `${attempt['status']}:${attempt['statusReason'] ?? ''}`).join() ===
        'sent:,sent:,skipped:referral-expired,skipped:referral-expired',
      { ...WAIT, message: 'referral.status-changed (expired) voids the remaining attempts in messaging' },
    );
    const journey = await waitFor(
      async () => {
        const entries = await journeyOf('ivo');
        return entries.length === 3 ? entries : null;
      },
      { ...WAIT, message: 'the expiry reaches the patient’s journey' },
    );
    expect(journey.map((entry) => entry.summary['status'])).toEqual(['pending', 'active', 'expired']);
    // Expired is final for outreach: a later attempt day sends nothing.
    await moveClocks(attemptAt(3).plus({ minutes: 1 }));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(textsTo('ivo')).toHaveLength(2);
    expect(fake.unauthorized).toBe(0);
  });

  it('stops every process cleanly, having logged no PHI', async () => {
    for (const service of [...platform.services].reverse())
      expect(await service.stop(), `${service.name}:\n${service.output().slice(-1_500)}`).toBe(0);
    const logs = platform.services.map((service) => service.output()).join('\n');
    for (const person of Object.values(PATIENTS))
      for (const phi of [person.firstname, person.lastname, person.phone, person.phone.slice(2)]) expect(logs).not.toContain(phi);
    for (const phi of ['desk@referrals.example', 'referrals passphrase']) expect(logs).not.toContain(phi);
  });
});
