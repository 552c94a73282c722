import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTwilioFake, type TwilioFake } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVendors, reportingFailures, SendError, type Vendors } from './vendors.js';

const mailer = { from: 'clinic@example.test', directory: join(tmpdir(), 'vendors-test-mail') };

describe('Twilio through the keep-alive HTTP client', () => {
  let fake: TwilioFake;
  let vendors: Vendors;

  beforeAll(async () => {
    fake = await startTwilioFake();
    vendors = createVendors({
      twilio: { accountSid: fake.accountSid, authToken: fake.authToken, from: fake.from, apiUrl: fake.url },
      mailer,
    });
  });
  afterAll(async () => {
    vendors.close();
    await fake.close();
  });

  it('sends a text byte for byte, authenticated, and answers the SDK-parsed sid and sender', async () => {
    const text = 'Rappel : rendez-vous mardi 9 h 30 & « Dr Müller » — répondez OUI = confirmer? 🙂';
    const handed = await vendors.sms('+15555550101', text, 'https://api.clinic.example/api/callback/twilio/1?a=b&c=d');
    const sent = fake.sent.at(-1)!;
    expect(sent.params).toMatchObject({
      To: '+15555550101',
      Body: text,
      From: fake.from,
      StatusCallback: 'https://api.clinic.example/api/callback/twilio/1?a=b&c=d',
    });
    expect(handed).toEqual({ externalId: sent.sid, from: fake.from, externalStatus: { status: 'queued' } });
    expect(fake.unauthorized).toBe(0);
  });

  it('places a call saying its text', async () => {
    const handed = await vendors.voice('+15555550102', 'Please call the clinic.', 'es', 'https://api.clinic.example/cb');
    const placed = fake.sent.at(-1)!;
    expect(placed).toMatchObject({ kind: 'call', sid: handed.externalId });
    expect(placed.params['Twiml']).toContain('<Say language="es-US">Please call the clinic.</Say>');
    expect(placed.params['StatusCallbackEvent']).toBe('completed');
  });

  it('sends many texts at once, each once', async () => {
    fake.latencyMs = 20;
    const before = fake.sent.length;
    const numbers = Array.from({ length: 300 }, (_, index) => `+1555${String(index).padStart(7, '0')}`);
    const handed = await Promise.all(numbers.map((to) => vendors.sms(to, 'Reminder', 'https://api.clinic.example/cb')));
    fake.latencyMs = 0;
    const sent = fake.sent.slice(before);
    expect(new Set(sent.map((send) => send.params['To']))).toEqual(new Set(numbers));
    expect(new Set(handed.map((one) => one.externalId))).toEqual(new Set(sent.map((send) => send.sid)));
  });

  it("turns Twilio's refusals into send errors with its code, permanent only for a request that can never pass", async () => {
    fake.invalidNumbers.add('+15555550199');
    const invalid = await vendors.sms('+15555550199', 'Reminder', 'https://api.clinic.example/cb').catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(SendError);
    expect(invalid).toMatchObject({ reason: 'twilio-21211', permanent: true });
    fake.down = true;
    const down = await vendors.sms('+15555550103', 'Reminder', 'https://api.clinic.example/cb').catch((error: unknown) => error);
    fake.down = false;
    expect(down).toMatchObject({ reason: 'twilio-20503', permanent: false });
  });

  it('answers a dropped connection as unreachable, never as sent', async () => {
    fake.fault = 'timeout';
    fake.hangMs = 50;
    const dropped = await vendors.sms('+15555550104', 'Reminder', 'https://api.clinic.example/cb').catch((error: unknown) => error);
    fake.fault = 'none';
    expect(dropped).toMatchObject({ reason: 'unreachable', permanent: false });
  });
});

it('answers a Twilio nobody listens at as unreachable', async () => {
  // A port that was free a moment ago: nothing accepts there.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as AddressInfo;
      server.close(() => resolve(free));
    });
  });
  const vendors = createVendors({
    twilio: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'token', from: '+15005550006', apiUrl: `http://127.0.0.1:${port}` },
    mailer,
  });
  try {
    await expect(vendors.sms('+15555550105', 'Reminder', 'https://api.clinic.example/cb')).rejects.toMatchObject({
      reason: 'unreachable',
      permanent: false,
    });
  } finally {
    vendors.close();
  }
});

describe('failed sends as metrics see them', () => {
  let fake: TwilioFake;

  beforeAll(async () => {
    fake = await startTwilioFake();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('tells of each attempt a vendor refused or could not take, named by vendor and channel, and passes the error on', async () => {
    const options = {
      twilio: { accountSid: fake.accountSid, authToken: fake.authToken, from: fake.from, apiUrl: fake.url },
      // Nothing listens on port 9 of the loopback: mail cannot be handed over.
      mailer: { from: 'clinic@example.test', smtpUrl: 'smtp://127.0.0.1:9' },
    };
    const failures: string[] = [];
    const vendors = reportingFailures(createVendors(options), (vendor, channel) => failures.push(`${vendor}/${channel}`));
    try {
      expect(vendors.names).toEqual({ sms: 'twilio', voice: 'twilio', email: 'smtp' });
      await vendors.sms('+15555550110', 'Reminder', 'https://api.clinic.example/cb');
      expect(failures).toEqual([]);
      fake.invalidNumbers.add('+15555550199');
      await expect(vendors.sms('+15555550199', 'Reminder', 'https://api.clinic.example/cb')).rejects.toMatchObject({
        reason: 'twilio-21211',
      });
      fake.down = true;
      await expect(vendors.voice('+15555550111', 'Call us.', 'en', 'https://api.clinic.example/cb')).rejects.toBeInstanceOf(SendError);
      fake.down = false;
      await expect(vendors.email('patient@example.test', 'Reminder', 'See you')).rejects.toMatchObject({ reason: 'unreachable' });
      expect(failures).toEqual(['twilio/sms', 'twilio/voice', 'smtp/email']);
      expect(vendors.webhookToken).toBe(fake.authToken);
    } finally {
      vendors.close();
    }
  });

  it('names the development sink and the mail folder', () => {
    const vendors = createVendors({ twilio: null, mailer });
    try {
      expect(vendors.names).toEqual({ sms: 'sink', voice: 'sink', email: 'mail-dir' });
    } finally {
      vendors.close();
    }
  });
});
