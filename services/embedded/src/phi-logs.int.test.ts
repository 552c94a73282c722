import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { waitFor } from '@pep/testing';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLY_PATH, signedReply } from '../../../scripts/sms-reply.mjs';
import { startPlatform, type RunningPlatform } from './platform.js';

/** A clock the test moves by hand, so a reminder e-mail (and its answer links) falls due during the test. */
function movableClock(start: string) {
  let now = new Date(start);
  const clock = () => now;
  clock.set = (at: string) => {
    now = new Date(at);
  };
  return clock;
}

// The people and texts of this workload: distinctive, so a hit in the logs can only be a leak.
const ZEB = {
  firstname: 'Zebulon',
  middlename: 'Ignatius',
  lastname: 'Quillfeather',
  phone: '(415) 555-0147',
  email: 'Zeb.Quillfeather@Example.test',
  dateOfBirth: '1961-07-23',
  address: '742 Evergreen Terrace',
};
/** Zebulon's phone as stored and as Twilio reports it. */
const ZEB_E164 = '+14155550147';
const MARISOL = { firstname: 'Marisol', lastname: 'Thistlewood', email: 'marisol.thistlewood@example.test', dateOfBirth: '1990-02-14' };
const NEW_PHONE = { phone: '415-555-0148', e164: '+14155550148' };
const STAFF = { firstname: 'Octavia', lastname: 'Brightwater', email: 'octavia.brightwater@clinic-phi.example' };
const NOTES = 'chemotherapy on Thursdays, prefers afternoons';
const DO_NOT_CONTACT_WHY = 'estranged guardian intercepts mail';
const MESSAGE_TEXT = 'Your biopsy results from the dermatology lab are ready';
const REPLY_TEXTS = ['running late, my orthopaedic brace broke', 'is the colonoscopy prep still needed'];

/** Every spelling a value could be logged in: as sent, in other cases, URL-encoded, and for phones and dates the usual formats. */
function spellings(): string[] {
  const phones = [ZEB_E164, NEW_PHONE.e164].flatMap((e164) => {
    const digits = e164.slice(2);
    const [area, exchange, line] = [digits.slice(0, 3), digits.slice(3, 6), digits.slice(6)];
    return [
      e164,
      encodeURIComponent(e164),
      digits,
      `${area}-${exchange}-${line}`,
      `(${area}) ${exchange}-${line}`,
      `${area} ${exchange} ${line}`,
      `${area}.${exchange}.${line}`,
      `${exchange}-${line}`,
    ];
  });
  const dates = [ZEB.dateOfBirth, MARISOL.dateOfBirth].flatMap((iso) => {
    const [year, month, day] = iso.split('-') as [string, string, string];
    return [
      iso,
      `${month}/${day}/${year}`,
      `${day}/${month}/${year}`,
      `${year}${month}${day}`,
      `${Number(month)}/${Number(day)}/${year}`,
      encodeURIComponent(`${month}/${day}/${year}`),
    ];
  });
  const emails = [ZEB.email, MARISOL.email, STAFF.email].flatMap((email) => [email, encodeURIComponent(email), email.split('@')[0]!]);
  const names = [ZEB.firstname, ZEB.middlename, ZEB.lastname, MARISOL.firstname, MARISOL.lastname, STAFF.firstname, STAFF.lastname];
  const texts = [ZEB.address, NOTES, DO_NOT_CONTACT_WHY, MESSAGE_TEXT, ...REPLY_TEXTS].flatMap((text) => [
    text,
    encodeURIComponent(text),
    new URLSearchParams({ q: text }).toString().slice(2),
    // A word of it alone is enough to leak it.
    text.split(' ').sort((a, b) => b.length - a.length)[0]!,
  ]);
  return [...phones, ...dates, ...emails, ...names, ...texts, 'Body=STOP'].map((value) => value.toLowerCase());
}

// The whole platform at trace level, so nothing is hidden by a level, through the gateway as clients and vendors use
// it: every line every component logs is captured and searched for the personal data the workload used.
describe('embedded platform: no personal data in any log line', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  const lines: string[] = [];
  const clock = movableClock('2026-05-04T13:00:00Z');
  const PUBLIC_URL = 'https://clinic.example';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-phi-logs-'));
    const logDestination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    platform = await startPlatform({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'trace',
      logDestination,
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
  const api = async (method: string, path: string, body?: unknown, raw?: string) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
    const parsed = (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) as Record<string, any>;
    return { status: response.status, body: parsed };
  };
  const expectStatus = async (status: number, method: string, path: string, body?: unknown, raw?: string) => {
    const response = await api(method, path, body, raw);
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(status);
    return response.body;
  };
  const ok = (method: string, path: string, body?: unknown) => expectStatus(200, method, path, body);
  const sinkToken = () => readFile(platform.smsWebhookTokenFile, 'utf8').then((text) => text.trim());
  const mails = async () =>
    Promise.all((await readdir(platform.mailDir).catch(() => [])).map((name) => readFile(join(platform.mailDir, name), 'utf8')));
  /** An e-mail's text with quoted-printable soft breaks and escapes undone, enough to read its links and codes. */
  const plain = (mail: string) => mail.replace(/=\r?\n/g, '').replace(/=3D/g, '=');

  it(
    'logs searches, updates, failed writes, bookings, messages, SMS callbacks and e-mail links without the data they carry',
    { timeout: 180_000 },
    async () => {
      // A clinic signs up (a second sign-up with the same e-mail is a failed duplicate write) and logs in.
      const owner = {
        email: STAFF.email,
        password: 'correct horse battery staple',
        firstname: STAFF.firstname,
        lastname: STAFF.lastname,
        organizationName: 'Phi Clinic',
      };
      const signup = await ok('POST', '/api/users/signup', owner);
      const organization = signup['organization']._id as string;
      await expectStatus(409, 'POST', '/api/users/signup', { ...owner, email: STAFF.email.toUpperCase() });
      token = (await ok('POST', '/api/users/login', { email: STAFF.email, password: owner.password }))['token'];
      await expectStatus(401, 'POST', '/api/users/login', { email: STAFF.email, password: 'wrong password entirely' });

      // Patients with every kind of detail, and writes that fail: invalid fields, malformed JSON, unknown ids.
      const zeb = await ok('POST', '/api/patients', ZEB);
      const marisol = await ok('POST', '/api/patients', MARISOL);
      await expectStatus(400, 'POST', '/api/patients', {
        firstname: ZEB.firstname,
        lastname: ZEB.lastname,
        phone: `call ${ZEB.firstname} ${ZEB_E164}`,
        email: ZEB.email.replace('@', ' at '),
      });
      await expectStatus(400, 'POST', '/api/patients', { firstname: ZEB.firstname, lastname: ZEB.lastname, dateOfBirth: '07/23/1961' });
      await expectStatus(
        400,
        'POST',
        '/api/patients',
        undefined,
        `{"firstname": "${ZEB.firstname}", "lastname": "${ZEB.lastname}", "phone": ${ZEB_E164}}`,
      );
      await expectStatus(404, 'PUT', `/api/patients/${randomUUID()}`, { lastname: ZEB.lastname, email: ZEB.email });
      await expectStatus(400, 'PUT', `/api/patients/${ZEB.lastname}`, { lastname: ZEB.lastname });
      await ok('PUT', `/api/patients/${zeb['_id']}`, {
        phone: NEW_PHONE.phone,
        address: `${ZEB.address}, Apt 2`,
        doNotContactMessage: DO_NOT_CONTACT_WHY,
      });
      await ok('PUT', `/api/patients/${zeb['_id']}`, { phone: ZEB.phone });

      // Searches put the data in the query string.
      const search = (type: string, value: string) => ok('GET', `/api/patients/search?type=${type}&value=${encodeURIComponent(value)}`);
      expect(await search('name', `${ZEB.firstname} ${ZEB.lastname}`)).toHaveLength(1);
      expect(await search('phone', ZEB.phone)).toHaveLength(1);
      expect(await search('phone', ZEB_E164)).toHaveLength(1);
      expect(await search('email', ZEB.email.toUpperCase())).toHaveLength(1);
      expect(await search('dateOfBirth', ZEB.dateOfBirth)).toHaveLength(1);
      await expectStatus(400, 'GET', `/api/patients/search?type=dateOfBirth&value=${encodeURIComponent('07/23/1961')}`);
      await expectStatus(400, 'GET', `/api/patients/search?type=phone&value=${encodeURIComponent(`${ZEB.lastname} 555`)}`);

      // A booking: provider, facility, type, a waitlist entry with notes, and appointments (a double booking fails).
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
      const type = await ok('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
      const slot = { provider: provider['_id'], facility: facility['_id'], type: type['_id'] };
      await ok('POST', '/api/waitlists', { patient: zeb['_id'], provider: slot.provider, notes: NOTES });
      await ok('GET', `/api/waitlists/search?value=${encodeURIComponent(NOTES.split(' ')[0]!)}`);
      await ok('POST', '/api/appointments', { patient: zeb['_id'], ...slot, date: '2026-05-12T14:00:00.000Z' });
      await expectStatus(409, 'POST', '/api/appointments', { patient: zeb['_id'], ...slot, date: '2026-05-12T14:00:00.000Z' });
      const marisolVisit = await ok('POST', '/api/appointments', { patient: marisol['_id'], ...slot, date: '2026-05-12T13:00:00.000Z' });

      // A message typed by staff, sent by the dispatcher; one to a patient who does not exist fails.
      await waitFor(async () => (await api('POST', '/api/messages', { patient: zeb['_id'], text: MESSAGE_TEXT })).status === 200, {
        timeoutMs: 20_000,
        message: 'messaging knows the patient and sends the message',
      });
      // Whether messaging answers 400 or 404 here is not this test's concern; that the write fails and what is logged is.
      expect((await api('POST', '/api/messages', { patient: randomUUID(), text: MESSAGE_TEXT })).status).toBeGreaterThanOrEqual(400);

      // The patient texts back: Twilio's POST webhook, its GET form (fields in the query), an unsigned one, and STOP by GET.
      const reply = signedReply({ token: await sinkToken(), publicUrl: PUBLIC_URL, from: ZEB_E164, text: REPLY_TEXTS[0]! });
      expect((await fetch(`${platform.url}${reply.path}`, { method: 'POST', headers: reply.headers, body: reply.body })).status).toBe(200);
      const getReply = async (text: string, signed: boolean) => {
        const path = `${REPLY_PATH}?${new URLSearchParams({ MessageSid: `SM${randomUUID().replace(/-/g, '')}`, From: ZEB_E164, To: '+15550100000', Body: text })}`;
        const signature = signed ? twilio.getExpectedTwilioSignature(await sinkToken(), `${PUBLIC_URL}${path}`, {}) : 'unsigned';
        return (await fetch(`${platform.url}${path}`, { headers: { 'x-twilio-signature': signature } })).status;
      };
      expect(await getReply(REPLY_TEXTS[1]!, true)).toBe(200);
      expect(await getReply(REPLY_TEXTS[1]!, false)).toBe(403);
      expect(await getReply('STOP', true)).toBe(200);
      await waitFor(async () => (await ok('GET', `/api/patients/${zeb['_id']}`))['doNotContact'] === true, {
        timeoutMs: 20_000,
        message: 'STOP reaches the patient record',
      });

      // Marisol's reminder e-mail falls due; she opens its confirm link (GET asks, POST answers) and asks for a login code.
      clock.set('2026-05-05T13:59:00Z');
      const reminderMail = await waitFor(
        async () => (await mails()).map(plain).find((mail) => mail.includes('/api/callback/email/reminders?token=')),
        {
          timeoutMs: 20_000,
          message: 'reminder e-mail sent',
        },
      );
      const link = /\/api\/callback\/email\/reminders\?token=[\w.-]+/.exec(reminderMail)![0];
      expect((await fetch(`${platform.url}${link}`)).status).toBe(200);
      expect((await fetch(`${platform.url}${link}`, { method: 'POST' })).status).toBe(200);
      expect((await fetch(`${platform.url}${link}x`)).status).toBe(403);
      await waitFor(async () => (await ok('GET', `/api/appointments/${marisolVisit['_id']}`))['status'] === 'confirmed', {
        timeoutMs: 20_000,
        message: 'confirmed by the link',
      });
      const patientLogin = (body: Record<string, string>) =>
        fetch(`${platform.url}/api/patients/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ organization, ...body }),
        });
      // Auth heard of her e-mail through patient.created long ago, in the first steps of the workload.
      expect((await patientLogin({ email: MARISOL.email.toUpperCase() })).status).toBe(200);
      const codeMail = await waitFor(
        async () => (await mails()).map(plain).find((mail) => mail.includes(MARISOL.email) && /login code is \d{6}/.test(mail)),
        { timeoutMs: 20_000, message: 'login code e-mailed' },
      );
      const code = /login code is (\d{6})/.exec(codeMail)![1]!;
      expect((await patientLogin({ email: MARISOL.email, code })).status).toBe(200);
      expect((await patientLogin({ email: MARISOL.email, code: code === '000000' ? '111111' : '000000' })).status).toBe(401);

      // Staff forget their password: the reset token travels in the path, and is a credential the logs must not keep either.
      await ok('POST', '/api/users/forgot-password', { email: STAFF.email });
      const resetMail = await waitFor(async () => (await mails()).map(plain).find((mail) => mail.includes('/reset-password/')), {
        timeoutMs: 20_000,
        message: 'reset e-mailed',
      });
      const resetToken = /\/reset-password\/([\w-]+)/.exec(resetMail)![1]!;
      await ok('GET', `/api/users/reset-password/${resetToken}`);
      await ok('POST', `/api/users/reset-password/${resetToken}`, { password: 'another long passphrase here' });

      // Let event handlers and the dispatcher finish what the workload started; their lines count too.
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      // The test must have seen the lines it searches: request logs of every service, the proxy's, the bus's and handlers'.
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const service of ['gateway', 'auth', 'patients', 'scheduling', 'messaging']) {
        expect(
          entries.some((entry) => entry['service'] === service && entry['msg'] === 'request completed'),
          service,
        ).toBe(true);
      }
      expect(entries.some((entry) => entry['service'] === 'gateway' && entry['msg'] === 'forwarding to service')).toBe(true);
      expect(entries.some((entry) => entry['msg'] === 'event consumed')).toBe(true);

      const logged = lines.join('\n').toLowerCase();
      const credentials = [resetToken, link.split('token=')[1]!].map((value) => value.toLowerCase());
      const leaks = [...spellings(), ...credentials]
        .filter((value) => logged.includes(value))
        .map((value) => ({ value, line: lines.find((line) => line.toLowerCase().includes(value))!.slice(0, 600) }));
      expect(leaks).toEqual([]);
    },
  );
});
