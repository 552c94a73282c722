import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOperatorCommand } from '@pep/auth';
import { demoSamples } from '@pep/contracts';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBanner, seedDemo } from './demo.js';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

/** A list answer's records, whether v1 wraps them in `response` or answers a bare array. */
const recordsOf = (body: Body | Body[]): Body[] => (Array.isArray(body) ? body : (body['response'] as Body[]));

const SALES_PHONE = '+14155550199';

// Sales' side of trials, as v1 clients send it, on the embedded platform: an operator made with `npm run operator`,
// a demo account with a demo practice seeded through the gateway, and sample messages that reach the demo patient only.
describe('embedded platform: platform operators, demo accounts and their practices, sample messages', () => {
  let dataDir: string;
  let platform: RunningPlatform | null = null;
  const start = async () => {
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', dispatchIntervalMs: 100 });
    return platform;
  };
  const stop = async () => {
    await platform?.stop();
    platform = null;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-demo-'));
  });
  afterAll(async () => {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, options: { token?: string; body?: unknown; accept?: string } = {}) => {
    const response = await fetch(`${platform!.url}${path}`, {
      method,
      headers: {
        // As v1 clients send it.
        ...(options.token ? { 'x-access-token': `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(options.accept ? { accept: options.accept } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      text,
      body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : {}) as Body,
    };
  };
  const ok = async (method: string, path: string, options: { token?: string; body?: unknown } = {}) => {
    const response = await call(method, path, options);
    expect(response.status, `${method} ${path}: ${response.text}`).toBe(200);
    return response.body;
  };
  const login = async (email: string, password: string) =>
    (await ok('POST', '/api/users/login', { body: { email, password } }))['token'] as string;
  /** The link of the welcome mail sent to an address, as the prospect would open it. */
  const welcomeToken = async (email: string) => {
    const mails = await waitFor(
      async () => {
        const texts = await Promise.all((await readdir(platform!.mailDir)).map((name) => readFile(join(platform!.mailDir, name), 'utf8')));
        const mine = texts.filter((mail) => mail.includes(`To: ${email}`));
        return mine.length > 0 ? mine : null;
      },
      { timeoutMs: 15_000, message: 'the welcome mail' },
    );
    return /\/reset-password\/([A-Za-z0-9_-]+)/.exec(mails[0]!.replace(/=\r?\n/g, ''))![1]!;
  };

  it(
    'an operator made with the operator command creates a demo account whose practice is seeded to size, and sends every sample to the demo patient only',
    { timeout: 360_000 },
    async () => {
      await start();
      const operatorEmail = 'sales-ops@platform.example';
      await ok('POST', '/api/users/signup', {
        body: {
          email: operatorEmail,
          password: 'correct horse battery staple',
          firstname: 'Sam',
          lastname: 'Sales',
          organizationName: 'Platform Operators',
        },
      });
      const demoBody = {
        email: 'prospect@hospital.example',
        firstname: 'Paula',
        lastname: 'Prospect',
        salesforceId: '0035g00000DeMo001',
        demoConfiguration: { patients: 6, providers: 3, facilities: 2, waitlists: 2, appointments: 4, phone: '(415) 555-0199' },
      };
      expect(
        (await call('POST', '/api/demoUsers', { token: await login(operatorEmail, 'correct horse battery staple'), body: demoBody }))
          .status,
      ).toBe(403);

      // PGlite serves one process: the command runs while the platform is stopped.
      await stop();
      expect(await runOperatorCommand(['add', operatorEmail], { dataDir })).toEqual([`${operatorEmail} is now a platform operator`]);
      await start();
      const operator = await login(operatorEmail, 'correct horse battery staple');

      const invalid = await call('POST', '/api/demoUsers', {
        token: operator,
        body: { ...demoBody, demoConfiguration: { patients: 'many', phone: 'call me' } },
      });
      expect(invalid.status).toBe(400);
      expect(invalid.body['errors'].map((error: { field: string }) => error.field).sort()).toEqual([
        'body.demoConfiguration.patients',
        'body.demoConfiguration.phone',
      ]);

      // A phone patients refuses is named as the field to fix; the same request with a good one finishes the account.
      const badPhone = await call('POST', '/api/demoUsers', {
        token: operator,
        body: { ...demoBody, demoConfiguration: { ...demoBody.demoConfiguration, phone: '+1 555 0000' } },
      });
      expect(badPhone.status, badPhone.text).toBe(400);
      expect(badPhone.body['errors']).toEqual([{ field: 'body.demoConfiguration.phone', message: expect.any(String) }]);
      const created = await ok('POST', '/api/demoUsers/', { token: operator, body: demoBody });
      const practice = created['demoPractice'] as Body;
      expect(practice).toMatchObject({ completedAt: expect.any(String) });
      expect([
        practice['facilities'].length,
        practice['providers'].length,
        practice['patients'].length,
        practice['waitlists'].length,
        practice['appointments'].length,
      ]).toEqual([2, 3, 6, 2, 4]);
      const demoPatient = practice['demoPatient'] as string;
      expect(practice['patients'][0]).toBe(demoPatient);
      // Sent again (a client that timed out), the same request answers the account and duplicates nothing.
      const again = await ok('POST', '/api/demoUsers', { token: operator, body: demoBody });
      expect([again['_id'], again['demoPractice']]).toEqual([created['_id'], practice]);
      expect(
        (await call('POST', '/api/demoUsers', { token: operator, body: { ...demoBody, email: 'other@hospital.example' } })).status,
      ).toBe(409);

      // The prospect sets a password from the welcome mail and sees the practice through the API.
      await ok('POST', `/api/users/reset-password/${await welcomeToken('prospect@hospital.example')}`, {
        body: { password: 'prospect password 123' },
      });
      const prospect = await login('prospect@hospital.example', 'prospect password 123');
      const count = async (path: string) => recordsOf(await ok('GET', path, { token: prospect })).length;
      expect(await count('/api/providers')).toBe(3);
      expect(await count('/api/facilities')).toBe(2);
      expect(await count('/api/appointmentTypes')).toBe(2);
      expect(await count('/api/patients?limit=100')).toBe(6);
      expect(await count('/api/waitlists?limit=100')).toBe(2);
      const appointments = recordsOf(await ok('GET', '/api/appointments?limit=100', { token: prospect }));
      expect(appointments).toHaveLength(4);
      expect(appointments.every((appointment) => Date.parse(appointment['date']) > Date.now())).toBe(true);
      expect(appointments.map((appointment) => appointment['patient'])).toContain(demoPatient);
      expect(await ok('GET', `/api/patients/${demoPatient}`, { token: prospect })).toMatchObject({
        firstname: 'Paula',
        phone: SALES_PHONE,
      });
      expect(
        recordsOf(await ok('GET', `/api/availabilities?provider=${practice['providers'][0]}&limit=5`, { token: prospect })).length,
      ).toBeGreaterThan(0);

      // The prospect adds a patient with a phone of their own: samples must still go only to the demo patient.
      const bystander = await ok('POST', '/api/patients', {
        token: prospect,
        body: { firstname: 'Bea', lastname: 'Bystander', phone: '415-555-0142' },
      });

      const links = created['sampleLinks'] as Record<string, string>;
      for (const sample of demoSamples) {
        const query = sample === 'patientReminderConfirmationThanks' ? '?type=intake' : '';
        const posted = await call('POST', `/api/demoUsers/${demoBody.salesforceId}/messages/${sample}${query}`, { token: operator });
        expect(posted.status, `${sample}: ${posted.text}`).toBe(200);
        expect(posted.type).toMatch(/^application\/json/);
        expect(posted.body).toMatchObject({ messageTemplate: sample, patient: demoPatient, status: 'requested' });
        // A browser opening the signed link gets a page; an API caller with a token gets JSON from the same GET.
        const link = new URL(links[sample]!);
        const page = await call('GET', `${link.pathname}${link.search}`, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
        expect(page.status, `${sample}: ${page.text}`).toBe(200);
        expect(page.type).toMatch(/^text\/html/);
        expect(page.text).toContain(`<code>${sample}</code>`);
      }
      // Within the account's 30 an hour: a few through GET with a token, as an API caller.
      for (const sample of demoSamples.slice(0, 3)) {
        const got = await call('GET', `/api/demoUsers/${demoBody.salesforceId}/messages/${sample}`, {
          token: operator,
          accept: 'application/json',
        });
        expect(got.status).toBe(200);
        expect(got.type).toMatch(/^application\/json/);
        expect(got.body).toMatchObject({ messageTemplate: sample, patient: demoPatient });
      }
      expect((await call('POST', `/api/demoUsers/${demoBody.salesforceId}/messages/noSuchSample`, { token: operator })).status).toBe(404);
      expect((await call('GET', `/api/demoUsers/0035g00000NoSuch1/messages/patientReminder`, { token: operator })).status).toBe(404);

      // Every sample went out, to the salesperson's phone, as the demo patient's message; the bystander got nothing.
      const samples = await waitFor(
        async () => {
          const listed = recordsOf(await ok('GET', `/api/messages?patient=${demoPatient}&type=outbound&limit=100`, { token: prospect }));
          const done = listed.filter(
            (message) => (demoSamples as readonly string[]).includes(message['key']) && message['status'] === 'sent',
          );
          return done.length === demoSamples.length * 2 + 3 ? listed : null;
        },
        { timeoutMs: 60_000, intervalMs: 1_000, message: 'every sample sent' },
      );
      expect(samples.every((message) => message['to'] === SALES_PHONE)).toBe(true);
      // The POST asked for the intake variant; the link sends the plain thanks.
      const thanks = samples
        .filter((message) => message['key'] === 'patientReminderConfirmationThanks')
        .map((message) => message['text'] as string);
      expect(thanks.filter((text) => text.includes('intake forms'))).toHaveLength(1);
      const reminder = samples.find((message) => message['key'] === 'patientReminder');
      expect(reminder!['text']).toMatch(/^Hi Paula, this is a reminder of your appointment with .+ at Main Street Clinic/);
      const everything = recordsOf(await ok('GET', '/api/messages?type=outbound&limit=100', { token: prospect }));
      expect(everything.filter((message) => message['to'] !== SALES_PHONE)).toEqual([]);
      expect(recordsOf(await ok('GET', `/api/messages?patient=${bystander['_id']}&limit=100`, { token: prospect }))).toEqual([]);
    },
  );

  it('npm start -- --demo seeds a demo practice once per data folder and prints a login that works', { timeout: 120_000 }, async () => {
    await stop();
    await start();
    const url = platform!.url;
    const first = await seedDemo({ url, dataDir });
    const banner = demoBanner(url, first);
    expect(banner).toContain(`e-mail:   ${first.email}`);
    expect(banner).toContain(`password: ${first.password}`);
    const token = await login(first.email, first.password);
    const counts = async () =>
      Promise.all(
        ['/api/providers', '/api/facilities', '/api/patients?limit=100', '/api/appointments?limit=100', '/api/waitlists?limit=100'].map(
          async (path) => recordsOf(await ok('GET', path, { token })).length,
        ),
      );
    const seeded = await counts();
    expect(seeded).toEqual([2, 1, 10, 10, 3]);

    // A second start on the same folder prints the same login and seeds nothing more.
    await stop();
    await start();
    const second = await seedDemo({ url: platform!.url, dataDir });
    expect([second.email, second.password]).toEqual([first.email, first.password]);
    expect(await counts()).toEqual(seeded);
  });
});
