import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedReply } from '../../../scripts/sms-reply.mjs';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

// What a patient reads and answers, played through the gateway as a v1 client calls it (`x-access-token: Bearer`,
// JSON bodies) on the embedded platform: the reminder, NO, the acknowledgement, the WAITLIST invitation, WAITLIST.
describe('embedded platform: a patient answers NO, then WAITLIST, through the gateway', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  // Monday 4 May 2026, 09:00 in New York.
  let now = new Date('2026-05-04T13:00:00Z');
  const clock = () => now;
  const PUBLIC_URL = 'https://clinic.example';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-replies-v1-'));
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
  const v1 = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const answer = (await response.json()) as Body;
    expect(response.status, `${method} ${path}: ${JSON.stringify(answer)}`).toBe(200);
    return answer;
  };
  const outbound = async (patient: string): Promise<Body[]> =>
    ((await v1('GET', `/api/messages/crudList?patient=${patient}&type=outbound&limit=100`))['response'] as Body[]).filter(
      (message) => message['status'] !== 'pending',
    );
  const sentTexts = (patient: string, count: number, what: string) =>
    waitFor(
      async () => {
        const sent = await outbound(patient);
        return sent.length >= count ? sent.sort((a, b) => String(a['createdAt']).localeCompare(String(b['createdAt']))) : null;
      },
      { timeoutMs: 20_000, message: what },
    );
  const reply = async (from: string, text: string) => {
    const sinkToken = (await readFile(platform.smsWebhookTokenFile, 'utf8')).trim();
    const signed = signedReply({ token: sinkToken, publicUrl: PUBLIC_URL, from, text });
    const response = await fetch(`${platform.url}${signed.path}`, { method: 'POST', headers: signed.headers, body: signed.body });
    expect(response.status).toBe(200);
  };

  it(
    'reminds with YES/NO, acknowledges NO, invites WAITLIST, and puts the patient on the waitlist once however often they answer',
    { timeout: 120_000 },
    async () => {
      const signup = await fetch(`${platform.url}/api/users/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'owner@elm-street.example',
          password: 'correct horse battery staple',
          firstname: 'Olive',
          lastname: 'Owner',
          organizationName: 'Elm Street Clinic',
        }),
      });
      token = ((await signup.json()) as Body)['token'];
      const provider = await v1('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await v1('POST', '/api/facilities', { name: 'Elm Street Clinic', timeZone: 'America/New_York' });
      const type = await v1('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
      const pat = await v1('POST', '/api/patients', { firstname: 'Pat', lastname: 'Lovelace', phone: '415-555-2681' });
      // Tuesday 12 May, 10:00 in New York; the first reminder goes a week before, at 10:00.
      const visit = await v1('POST', '/api/appointments', {
        patient: pat['_id'],
        provider: provider['_id'],
        facility: facility['_id'],
        type: type['_id'],
        date: '2026-05-12T14:00:00.000Z',
      });
      await waitFor(async () => ((await v1('GET', `/api/reminders/findByApptId/${visit['_id']}`))['response'] as Body[]).length === 3, {
        timeoutMs: 20_000,
        message: 'reminders planned',
      });
      now = new Date('2026-05-05T14:00:30Z');
      const [reminder] = await sentTexts(pat['_id'], 1, 'reminder sent');
      expect(reminder!['text']).toBe(
        'Hi Pat, this is a reminder of your appointment with Grace Hopper at Elm Street Clinic on Tuesday, May 12, 2026 at 10:00 AM. Reply YES to confirm or NO to cancel.',
      );

      await reply('+14155552681', 'NO');
      await waitFor(async () => (await v1('GET', `/api/appointments/${visit['_id']}`))['status'] === 'cancelled', {
        timeoutMs: 20_000,
        message: 'cancelled by NO',
      });
      await sentTexts(pat['_id'], 2, 'acknowledgement sent');
      // The invitation keeps half a minute's distance from the acknowledgement it follows (ADR 0027).
      now = new Date('2026-05-05T14:01:00Z');
      const afterNo = await sentTexts(pat['_id'], 3, 'acknowledgement and invitation sent');
      expect(afterNo.map((message) => [message['key'], message['text']])).toEqual([
        ['reminder', reminder!['text']],
        [
          'cancellation-ack',
          'Your appointment on Tuesday, May 12, 2026 at 10:00 AM is cancelled. Call Elm Street Clinic to book another time.',
        ],
        [
          'waitlist-invite',
          'Would you like an earlier or another time with Grace Hopper at Elm Street Clinic? Reply WAITLIST and we will text you when one opens.',
        ],
      ]);

      const waitlisted = async (): Promise<Body[]> => (await v1('GET', `/api/waitlists?patient=${pat['_id']}`))['response'];
      await reply('+14155552681', 'Waitlist!');
      const joined = await sentTexts(pat['_id'], 4, 'WAITLIST confirmed');
      expect(joined[3]).toMatchObject({
        key: 'waitlist-joined',
        text: 'You are on the waitlist for Grace Hopper at Elm Street Clinic. We will text you when a time opens.',
      });
      expect(await waitlisted()).toEqual([
        expect.objectContaining({
          patient: pat['_id'],
          provider: provider['_id'],
          facility: facility['_id'],
          appointmentType: type['_id'],
          status: 'waiting',
        }),
      ]);

      // Asking again is answered again, and adds nothing.
      await reply('+14155552681', 'wait list');
      await sentTexts(pat['_id'], 5, 'second WAITLIST answered');
      expect(await waitlisted()).toHaveLength(1);
    },
  );
});
