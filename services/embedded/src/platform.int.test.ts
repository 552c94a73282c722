import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signIdentity } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

describe('embedded platform', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-embedded-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () => startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
  const status = async (platform: RunningPlatform) =>
    (await (await fetch(`${platform.url}/api/status`)).json()) as { status: string; services: Array<Record<string, unknown>> };

  it('starts every service behind the gateway and reports their health', async () => {
    const platform = await start();
    try {
      const body = await status(platform);
      expect(body.status).toBe('ok');
      expect(body.services).toContainEqual(
        expect.objectContaining({ name: 'patients', status: 'ok', checks: { database: 'ok', broker: 'ok' } }),
      );
      expect(body.services).toContainEqual({ name: 'gateway', status: 'ok' });
      expect(body.services).toContainEqual(expect.objectContaining({ name: 'auth', status: 'ok' }));
      expect(body.services).toContainEqual(expect.objectContaining({ name: 'scheduling', status: 'ok' }));
      expect(body.services).toContainEqual(expect.objectContaining({ name: 'messaging', status: 'ok' }));
      expect(body.services).toContainEqual(expect.objectContaining({ name: 'billing', status: 'ok' }));
      const billing = await fetch(`${platform.url}/api/billing`);
      expect(billing.status).toBe(401);
      expect(billing.headers.get('content-type')).toMatch(/problem\+json/);
      // Subscriptions are served (the sandbox's local ledger here): a caller without a token is refused like anywhere else.
      const subscribe = await fetch(`${platform.url}/api/billing/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plan: 'standard' }),
      });
      expect(subscribe.status).toBe(401);
      // Stripe's webhook reaches billing through the gateway; unsigned by the sandbox's secret (in the data folder) it is refused.
      const webhook = await fetch(`${platform.url}/api/callback/stripe/charges`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
        body: JSON.stringify({ id: 'evt_1', object: 'event', type: 'charge.succeeded' }),
      });
      expect(webhook.status).toBe(400);
      expect(((await webhook.json()) as { type: string }).type).toBe('/problems/bad-signature');
      const unauthenticated = await fetch(`${platform.url}/api/patients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-internal-identity': 'forged' },
        body: JSON.stringify({ firstname: 'A', lastname: 'B' }),
      });
      expect(unauthenticated.status).toBe(401);
    } finally {
      await platform.stop();
    }
  });

  it('walks a clinic through the gateway: sign up, log in, a patient, an appointment in the journey, other clinics see 404', async () => {
    const platform = await start();
    const api = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${platform.url}${path}`, {
        method,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    try {
      const signup = await api('POST', '/api/users/signup', {
        email: 'owner@clinic-a.example',
        password: 'correct horse battery staple',
        firstname: 'Olive',
        lastname: 'Owner',
        organizationName: 'Clinic A',
      });
      expect(signup.status).toBe(200);
      const login = await api('POST', '/api/users/login', { email: 'owner@clinic-a.example', password: 'correct horse battery staple' });
      expect(login.status).toBe(200);
      const token = login.body['token'] as string;
      // Billing heard of the sign-up and opened the clinic's account: a local sandbox one, with no Stripe key here.
      await waitFor(async () => (await api('GET', '/api/billing', undefined, token)).status === 200, {
        timeoutMs: 15_000,
        message: 'the billing account opened from organization.created',
      });
      expect((await api('GET', '/api/billing', undefined, token)).body).toMatchObject({
        organization: signup.body['organization']._id,
        status: 'sandbox',
        stripeCustomerId: null,
      });

      const created = await api('POST', '/api/patients', { firstname: 'Pat', lastname: 'Ient', phone: '415-555-2671' }, token);
      expect(created.status).toBe(200);
      expect(created.body).toMatchObject({ organization: signup.body['organization']._id, phone: '+14155552671' });
      const id = created.body['_id'] as string;
      expect((await api('GET', `/api/patients/${id}`, undefined, token)).body).toMatchObject({ firstname: 'Pat' });
      await waitFor(async () => (await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'].length === 1, {
        timeoutMs: 15_000,
        message: 'journey fed by the in-process bus',
      });

      // Scheduling books the patient; patients hears of it through the bus and adds it to the journey.
      const provider = await api('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' }, token);
      const facility = await api('POST', '/api/facilities', { name: 'Main Street', timeZone: 'America/New_York' }, token);
      const type = await api('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 }, token);
      const slot = {
        provider: provider.body['_id'],
        facility: facility.body['_id'],
        type: type.body['_id'],
        date: '2030-03-10T14:00:00.000Z',
      };
      const booked = await api('POST', '/api/appointments', { patient: id, ...slot }, token);
      expect(booked.status).toBe(200);
      expect(booked.body).toMatchObject({ status: 'unconfirmed', duration: 30 });
      expect((await api('POST', '/api/appointments', { patient: id, ...slot }, token)).status).toBe(409);
      await waitFor(
        async () =>
          (await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'].some(
            (entry: { type: string }) => entry.type === 'appointment.created',
          ),
        { timeoutMs: 15_000, message: 'appointment.created reaches the patient journey' },
      );
      // Messaging planned its reminders from the same event (the development sink sends nothing out).
      const reminders = async () =>
        (await api('GET', `/api/reminders/findByApptId/${booked.body['_id']}`, undefined, token)).body['response'];
      await waitFor(async () => ((await reminders()) ?? []).length > 0, {
        timeoutMs: 15_000,
        message: 'reminders planned for the appointment',
      });

      const other = await api('POST', '/api/users/signup', {
        email: 'owner@clinic-b.example',
        password: 'another long passphrase',
        firstname: 'Bob',
        lastname: 'Other',
        organizationName: 'Clinic B',
      });
      expect((await api('GET', `/api/patients/${id}`, undefined, other.body['token'])).status).toBe(404);
      expect((await api('GET', `/api/patients/${id}`)).status).toBe(401);
      expect((await api('GET', `/api/patients/${id}`, undefined, `${token}x`)).status).toBe(401);

      const refreshed = await api('POST', '/api/tokens/validate', { refreshToken: login.body['refreshToken'] });
      expect(refreshed.status).toBe(200);
      expect((await api('GET', `/api/patients/${id}`, undefined, refreshed.body['token'])).status).toBe(200);
      const jwks = await fetch(`${platform.url}/.well-known/jwks.json`);
      expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    } finally {
      await platform.stop();
    }
  });

  it('keeps its data in the data folder across restarts', async () => {
    expect((await readdir(dataDir)).sort()).toEqual(expect.arrayContaining(['auth', 'bus', 'internal-auth-secret', 'patients']));
    const secret = (await readFile(join(dataDir, 'internal-auth-secret'), 'utf8')).trim();
    const headers = {
      'content-type': 'application/json',
      'x-internal-identity': await signIdentity(secret, {
        organization: '0b5d3d1e-7c1a-4c8e-9a55-3d2b8f1e0c11',
        user: 'u',
        roles: ['staff'],
      }),
    };
    const journey = async (platform: RunningPlatform, id: string) =>
      ((await (await fetch(`${platform.services['patients']}/api/patients/${id}/journey`, { headers })).json()) as { response: unknown[] })
        .response;

    const first = await start();
    let id: string;
    try {
      const created = await fetch(`${first.services['patients']}/api/patients`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ firstname: 'Kept', lastname: 'Across' }),
      });
      expect(created.status).toBe(200);
      id = ((await created.json()) as { _id: string })._id;
      await waitFor(async () => (await journey(first, id)).length === 1, { timeoutMs: 15_000, message: 'event consumed in-process' });
    } finally {
      await first.stop();
    }

    const second = await start();
    try {
      const fetched = await fetch(`${second.services['patients']}/api/patients/${id}`, { headers });
      expect(fetched.status).toBe(200);
      expect(await fetched.json()).toMatchObject({ firstname: 'Kept' });
      // After the restart the event is not applied again (committed offsets, and the inbox behind them).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await journey(second, id)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});
