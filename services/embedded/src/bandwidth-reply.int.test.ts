import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

/** An address of this machine that is not loopback: a caller from it is a caller from the network. */
const networkAddress = Object.values(networkInterfaces())
  .flat()
  .find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;

// A patient's reply through Bandwidth on the embedded platform: no Bandwidth credentials configured (the embedded
// default), so the gateway's callers on this machine may post it and callers from the network may not.
describe('embedded platform: a reply through Bandwidth, through the gateway', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let port: string;
  let now = new Date('2026-05-04T13:00:00Z');
  const clock = () => now;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-bandwidth-'));
    // Every interface, so the same gateway can be called from loopback and from the machine's network address.
    platform = await startPlatform({
      dataDir,
      host: '0.0.0.0',
      port: 0,
      logLevel: 'silent',
      publicUrl: 'https://clinic.example',
      clock,
      dispatchIntervalMs: 100,
    });
    port = new URL(platform.url).port;
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const loopback = () => `http://127.0.0.1:${port}`;
  let token = '';
  const ok = async (method: string, path: string, body?: unknown): Promise<Body> => {
    const response = await fetch(`${loopback()}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const answer = (await response.json()) as Body;
    expect(response.status, `${method} ${path}: ${JSON.stringify(answer)}`).toBe(200);
    return answer;
  };
  /** Bandwidth's inbound-message callback, exactly as Bandwidth posts it, to the gateway at `base`. */
  const bandwidth = (base: string, from: string, text: string, id: string) =>
    fetch(`${base}/webhooks/reply/bandwidth/sms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          type: 'message-received',
          time: '2026-05-05T14:05:00.000Z',
          description: 'Incoming message received',
          to: '+14155550100',
          message: {
            id,
            owner: '+14155550100',
            applicationId: '93de2206-9669-4e07-948d-329f4b722ee2',
            time: '2026-05-05T14:05:00.000Z',
            segmentCount: 1,
            direction: 'in',
            to: ['+14155550100'],
            from,
            text,
            media: [],
          },
        },
      ]),
    });

  it(
    'confirms the appointment on C from a caller on this machine, refuses one from the network, and documents the webhook',
    { timeout: 120_000 },
    async () => {
      const signup = await fetch(`${loopback()}/api/users/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'owner@bandwidth-clinic.example',
          password: 'correct horse battery staple',
          firstname: 'Olive',
          lastname: 'Owner',
          organizationName: 'Bandwidth Clinic',
        }),
      });
      expect(signup.status).toBe(200);
      token = ((await signup.json()) as Body)['token'];
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Main Street Clinic', timeZone: 'America/New_York' });
      const type = await ok('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
      const patient = await ok('POST', '/api/patients', { firstname: 'Pat', lastname: 'Lovelace', phone: '415-555-2681' });
      const visit = await ok('POST', '/api/appointments', {
        patient: patient['_id'],
        provider: provider['_id'],
        facility: facility['_id'],
        type: type['_id'],
        date: '2026-05-12T14:00:00.000Z',
      });
      await waitFor(async () => (await ok('GET', `/api/reminders/findByApptId/${visit['_id']}`))['response']?.length === 3, {
        timeoutMs: 20_000,
        message: 'reminders planned',
      });

      // A week before, 10:00 in New York: the first reminder goes out (to the development sink).
      now = new Date('2026-05-05T14:00:30Z');
      await waitFor(async () => (await ok('GET', `/api/reminders/findByApptId/${visit['_id']}`))['response'][0]['status'] === 'sent', {
        timeoutMs: 20_000,
        message: 'reminder sent',
      });

      if (networkAddress) {
        const fromNetwork = await bandwidth(`http://${networkAddress}:${port}`, '+14155552681', 'C', 'bw-from-network-1');
        expect(fromNetwork.status).toBe(403);
        expect(fromNetwork.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await fromNetwork.json()) as Body)['detail']).toContain('BANDWIDTH_CALLBACK_USERNAME');
      }

      const answered = await bandwidth(loopback(), '+14155552681', 'C', '1462070468292kw2fuqty55yp2b2');
      expect(answered.status).toBe(200);
      expect(await answered.json()).toEqual({ received: 1, ignored: 0 });
      await waitFor(async () => (await ok('GET', `/api/appointments/${visit['_id']}`))['status'] === 'confirmed', {
        timeoutMs: 20_000,
        message: 'appointment confirmed by the Bandwidth reply',
      });
      // Delivered again by Bandwidth: still one reply.
      expect((await bandwidth(loopback(), '+14155552681', 'C', '1462070468292kw2fuqty55yp2b2')).status).toBe(200);
      const messages = await ok('GET', `/api/messages?patient=${patient['_id']}&type=inbound`);
      const inbound = (Array.isArray(messages) ? messages : messages['response']) as Body[];
      expect(inbound).toHaveLength(1);
      expect(inbound[0]).toMatchObject({ type: 'inbound', from: '+14155552681', to: '+14155550100', text: 'C', appointment: visit['_id'] });

      const document = (await ok('GET', '/api/docs/json')) as { paths: Record<string, Record<string, Body>> };
      expect(document.paths['/webhooks/reply/bandwidth/sms']?.['post']).toMatchObject({
        'x-service': 'messaging',
        security: [{ vendorBasic: [] }],
      });
      expect(document.paths['/webhooks/reply/bandwidth/sms']!['post']!['description']).toContain('message-received');
    },
  );
});
