import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

const WAY = 12;
const ROUNDS = 5;

// The embedded database is one session, so its races are queued rather than interleaved; what it must still never do is
// answer a queued loser 5xx.
describe('embedded platform: simultaneous bookings of one slot through the gateway', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token: string;

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-access-token': `Bearer ${token}` },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
    const parsed = (await response.json()) as Record<string, any>;
    return { status: response.status, type: response.headers.get('content-type') ?? '', body: parsed };
  };
  const created = async (path: string, body: unknown) => {
    const response = await api('POST', path, body);
    if (response.status !== 200) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body['_id'] as string;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-contention-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
    const credentials = { email: 'owner@race.example', password: 'correct horse battery staple' };
    const signup = await fetch(`${platform.url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...credentials, firstname: 'Olive', lastname: 'Owner', organizationName: 'Race Clinic' }),
    });
    expect(signup.status).toBe(200);
    const login = await fetch(`${platform.url}/api/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(credentials),
    });
    token = ((await login.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(`books each slot once and answers every other booking 409 problem+json, in ${ROUNDS} rounds of ${WAY}`, async () => {
    const provider = await created('/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
    const facility = await created('/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
    const appointmentType = await created('/api/appointmentTypes', { name: 'Check-up', duration: 30 });
    const patients: string[] = [];
    for (let i = 0; i < WAY; i += 1) patients.push(await created('/api/patients', { firstname: 'Pat', lastname: `Racer${i}` }));
    for (let round = 0; round < ROUNDS; round += 1) {
      const slot = await created('/api/availabilities', {
        provider,
        facility,
        appointmentType,
        date: new Date(Date.UTC(2099, 2, 1 + round, 14)).toISOString(),
      });
      const responses = await Promise.all(
        patients.map((patient, i) =>
          i % 2 === 0
            ? api('PUT', `/api/availabilities/${slot}/book`, { patient })
            : api('POST', `/api/availabilities/book/${slot}`, { patient }),
        ),
      );
      const statuses = responses.map((response) => response.status);
      expect(
        statuses.filter((status) => status === 200),
        `round ${round}: ${statuses.join(',')}`,
      ).toHaveLength(1);
      for (const response of responses.filter((r) => r.status !== 200)) {
        expect(response.status, `round ${round}: ${JSON.stringify(response.body)}`).toBe(409);
        expect(response.type).toMatch(/^application\/problem\+json/);
      }
    }
  });
});
