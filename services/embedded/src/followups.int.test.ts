import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

// A no-show recorded in scheduling reaches messaging as appointment.no-show, which plans the organization's follow-up
// for the next morning in the facility's zone (sending it is tested in messaging's followups.int.test.ts).
describe('embedded platform: a no-show recorded in scheduling plans the follow-up', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token = '';
  // Wednesday 3 June 2026, 19:00 in Tokyo.
  const clock = () => new Date('2026-06-03T10:00:00Z');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-followups-'));
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

  it(
    'records the no-show (refused before the start) and plans one follow-up at 09:00 the next day in Tokyo',
    { timeout: 120_000 },
    async () => {
      const signup = await api('POST', '/api/users/signup', {
        email: 'owner@followup-clinic.example',
        password: 'correct horse battery staple',
        firstname: 'Fumi',
        lastname: 'Owner',
        organizationName: 'Follow-up Clinic',
      });
      expect(signup.status).toBe(200);
      token = signup.body['token'];
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Harbour Clinic', timeZone: 'Asia/Tokyo', phone: '+81355550100' });
      const patient = await ok('POST', '/api/patients', { firstname: 'Kenji', lastname: 'Sato', phone: '415-555-2690' });
      const rule = await ok('POST', '/api/followups', {
        name: 'We missed you',
        trigger: { event: 'no-show', delayDays: 1, sendAt: '09:00' },
        action: 'text',
      });
      const visit = { patient: patient['_id'], provider: provider['_id'], facility: facility['_id'] };
      // 17:00 in Tokyo today, two hours ago; and one tomorrow, not started yet.
      const missed = await ok('POST', '/api/appointments', { ...visit, date: '2026-06-03T08:00:00.000Z' });
      const upcoming = await ok('POST', '/api/appointments', { ...visit, date: '2026-06-04T08:00:00.000Z' });

      const early = await api('PUT', `/api/appointments/${upcoming['_id']}`, { outcome: 'no-show' });
      expect(early.status).toBe(409);
      const marked = await ok('PUT', `/api/appointments/${missed['_id']}`, { outcome: 'no-show' });
      expect(marked).toMatchObject({ outcome: 'no-show', outcomeAt: '2026-06-03T10:00:00.000Z' });

      const followups = await waitFor(
        async () => {
          const listed = (await ok('GET', `/api/reminders?patient=${patient['_id']}&type=followup`))['response'] as Body[];
          const found = listed.filter((reminder) => reminder['type'] === 'followup');
          return found.length > 0 ? found : null;
        },
        { timeoutMs: 30_000, message: 'the follow-up planned' },
      );
      expect(followups).toHaveLength(1);
      // 09:00 on 4 June in Tokyo.
      expect(followups[0]).toMatchObject({ appointment: missed['_id'], sendAt: '2026-06-04T00:00:00.000Z', status: 'scheduled' });
      expect(followups[0]!['text']).toContain('we missed you');
      expect(rule['trigger']).toMatchObject({ event: 'no-show', delayDays: 1, sendAt: '09:00' });
    },
  );
});
