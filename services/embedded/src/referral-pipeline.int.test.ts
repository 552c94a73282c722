import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

// A referral through the whole platform: received and approved in patients, booked in scheduling, and the booking's
// event bringing the referral to scheduled; cancelling the visit reopens it. Each move shows in the patient's journey
// and the organization's activity feed.
describe('embedded platform: a referral scheduled by the appointment booked for it', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token = '';
  // Tuesday 2 June 2026, 10:00 in New York; scheduling and patients read it.
  const clock = () => new Date('2026-06-02T14:00:00Z');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-referral-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', clock });
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

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
  const referralIn = (id: string, status: string) =>
    waitFor(
      async () => {
        const referral = await ok('GET', `/api/referrals/${id}`);
        return referral['status'] === status ? referral : null;
      },
      { timeoutMs: 20_000, message: `referral ${status}` },
    );

  it(
    'goes pending → active → scheduled by the booking naming it → active again when the visit is cancelled',
    { timeout: 120_000 },
    async () => {
      const signup = await api('POST', '/api/users/signup', {
        email: 'owner@referral-clinic.example',
        password: 'correct horse battery staple',
        firstname: 'Rita',
        lastname: 'Owner',
        organizationName: 'Referral Clinic',
      });
      expect(signup.status).toBe(200);
      token = signup.body['token'];
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
      const type = await ok('POST', '/api/appointmentTypes', { name: 'Consultation', duration: 30 });
      const patient = await ok('POST', '/api/patients', { firstname: 'Rory', lastname: 'Ferred', phone: '415-555-2681' });

      const received = await ok('POST', '/api/referrals', {
        patient: patient['_id'],
        provider: provider['_id'],
        appointmentType: type['_id'],
      });
      expect(received['status']).toBe('pending');
      expect((await ok('POST', `/api/referrals/${received['_id']}/approve`))['status']).toBe('active');

      const visit = await ok('POST', '/api/appointments', {
        patient: patient['_id'],
        provider: provider['_id'],
        facility: facility['_id'],
        type: type['_id'],
        date: '2026-06-09T14:00:00.000Z',
        referral: received['_id'],
      });
      expect(visit['referral']).toBe(received['_id']);
      const scheduled = await referralIn(received['_id'], 'scheduled');
      expect(scheduled['scheduledByAppointment']).toBe(visit['_id']);
      expect(scheduled['scheduledAt']).not.toBeNull();

      await ok('PUT', `/api/appointments/${visit['_id']}/cancel`);
      const reopened = await referralIn(received['_id'], 'active');
      expect(reopened).toMatchObject({ scheduledByAppointment: null, scheduledAt: null });

      const journey = await waitFor(
        async () => {
          const entries = ((await ok('GET', `/api/patients/${patient['_id']}/journey`))['response'] as Body[]).filter((entry) =>
            String(entry['type']).startsWith('referral.'),
          );
          return entries.length === 4 ? entries : null;
        },
        { timeoutMs: 20_000, message: 'the referral in the journey' },
      );
      expect(journey.map((entry) => [entry['type'], entry['summary']['status']])).toEqual([
        ['referral.created', 'pending'],
        ['referral.status-changed', 'active'],
        ['referral.status-changed', 'scheduled'],
        ['referral.status-changed', 'active'],
      ]);

      const feed = await waitFor(
        async () => {
          const listed = (await ok('GET', `/api/activities/?type=referral.status-changed&subject=${received['_id']}`))[
            'response'
          ] as Body[];
          return listed.length === 3 ? listed : null;
        },
        { timeoutMs: 20_000, message: 'the referral in the activity feed' },
      );
      expect(feed.map((activity) => activity['summary']['status']).sort()).toEqual(['active', 'active', 'scheduled']);
    },
  );
});
