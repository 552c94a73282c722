import { signIdentity } from '@pep/service-kit';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailsTo } from '../test/fixtures.js';
import { bearer, PUBLIC_URL, SECRET, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

describe('auth service: demo users for sales trials', () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let operator: Record<string, string>;
  let orgAdmin: Record<string, string>;

  beforeAll(async () => {
    service = await startAuth('demo-users', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    const owner = await signup(service.app);
    orgAdmin = await bearer(owner.token);
    operator = {
      'x-internal-identity': await signIdentity(SECRET, {
        organization: owner.organization._id,
        user: owner.user._id,
        roles: ['platform-admin'],
      }),
    };
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const call = (url: string, headers: Record<string, string>, payload?: unknown) =>
    service.app.inject({ method: 'POST', url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const events = async (key: string) =>
    (await sql.query('SELECT envelope FROM outbox WHERE key = $1 ORDER BY seq', [key])).rows.map(
      (row) => row.envelope as { type: string; organization: string; data: Record<string, unknown> },
    );

  it('creates a demo organization with the prospect as its pending admin, for platform admins only', async () => {
    const body = {
      email: 'Prospect@Hospital.Example',
      firstname: 'Paula',
      lastname: 'Prospect',
      salesforceId: '0035g00000AbCdEFG1',
      demoConfiguration: { seats: 3 },
    };
    expect((await call('/api/demoUsers', orgAdmin, body)).statusCode).toBe(403);
    expect((await call('/api/demoUsers', {}, body)).statusCode).toBe(401);

    const created = await call('/api/demoUsers/', operator, body);
    expect(created.statusCode).toBe(200);
    const user = created.json();
    expect(user).toMatchObject({
      email: 'prospect@hospital.example',
      roles: ['admin'],
      displayStatus: 'pending',
      salesforceId: '0035g00000AbCdEFG1',
      demoConfiguration: { seats: 3 },
      avatar: null,
    });
    const { rows } = await sql.query('SELECT name, demo FROM organization WHERE id = $1', [user.organization]);
    expect(rows[0]).toEqual({ name: 'Paula Prospect (demo)', demo: true });
    expect((await events(user.organization)).map((event) => [event.type, event.data['demo']])).toEqual([['organization.created', true]]);
    expect((await events(user._id)).map((event) => event.type)).toEqual(['user.created']);
    // Mail goes out after the answer; wait for it.
    const [mail] = await waitFor(
      async () => {
        const mails = await mailsTo(service.mailDir, 'prospect@hospital.example');
        return mails.length > 0 ? mails : null;
      },
      { timeoutMs: 20_000, message: 'the welcome mail' },
    );
    expect(mail!.text).toContain(`${PUBLIC_URL}/reset-password/`);

    const again = await call('/api/demoUsers', operator, { ...body, email: 'other@hospital.example' });
    expect(again.statusCode).toBe(409);
    expect(again.json().type).toBe('/problems/salesforce-id-taken');
    expect((await call('/api/demoUsers', operator, { ...body, salesforceId: '0035g00000ZZZZZZZ9' })).json().type).toBe(
      '/problems/email-taken',
    );
    const bad = await call('/api/demoUsers', operator, { ...body, salesforceId: 'no spaces!', extra: 1 });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .errors.map((error: { field: string }) => error.field)
        .sort(),
    ).toEqual(['body.extra', 'body.salesforceId']);
  });

  it('asks messaging, through an event, to send a named sample to the demo patient only, 404 for unknown ones, 429 beyond the hourly allowance', async () => {
    const user = (
      await call('/api/demoUsers', operator, {
        email: 'trial@clinic.example',
        firstname: 'Tom',
        lastname: 'Trial',
        salesforceId: 'SF00000001',
      })
    ).json();
    // No gateway configured here, so no practice was seeded: samples have no one to go to.
    expect(user.demoPractice).toBeNull();
    const url = '/api/demoUsers/SF00000001/messages/patientReminder';
    const noPatient = await call(url, operator);
    expect(noPatient.statusCode).toBe(409);
    expect(noPatient.json().type).toBe('/problems/no-demo-patient');

    // A seeded practice (as the embedded platform's test seeds it through the gateway) names its demo patient.
    const demoPatient = '7b0f6c1e-3a52-4a8e-9f1d-0c2b5e6a7d01';
    await sql.query('UPDATE "user" SET demo_practice = $2 WHERE id = $1', [
      user._id,
      JSON.stringify({
        facilities: [],
        providers: [],
        appointmentTypes: [],
        workingHours: [],
        patients: [demoPatient],
        demoPatient,
        demoPhone: '+15557654321',
        waitlists: [],
        appointments: [],
        completedAt: '2026-12-06T00:00:00.000Z',
      }),
    ]);
    expect((await call(url, orgAdmin)).statusCode).toBe(403);
    const sent = await call(url, operator);
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toMatchObject({
      user: user._id,
      organization: user.organization,
      salesforceId: 'SF00000001',
      messageTemplate: 'patientReminder',
      channel: 'sms',
      patient: demoPatient,
      type: null,
      status: 'requested',
    });
    // Whatever the body says, the sample goes to the demo patient's phone.
    const redirected = await call('/api/demoUsers/SF00000001/messages/patientReminderConfirmationThanks?type=insurance', operator, {
      channel: 'sms',
      phone: '+15551234567',
    });
    expect(redirected.statusCode).toBe(200);
    const requested = (await events(user._id)).filter((event) => event.type === 'demo-user.message-requested');
    expect(requested.map((event) => event.data)).toEqual([
      {
        _id: user._id,
        salesforceId: 'SF00000001',
        messageTemplate: 'patientReminder',
        channel: 'sms',
        to: '+15557654321',
        patient: demoPatient,
        requestedBy: expect.any(String),
        firstname: 'Tom',
        lastname: 'Trial',
      },
      {
        _id: user._id,
        salesforceId: 'SF00000001',
        messageTemplate: 'patientReminderConfirmationThanks',
        channel: 'sms',
        to: '+15557654321',
        patient: demoPatient,
        variant: 'insurance',
        requestedBy: expect.any(String),
        firstname: 'Tom',
        lastname: 'Trial',
      },
    ]);
    expect(requested.every((event) => event.organization === user.organization)).toBe(true);

    const unknown = await call('/api/demoUsers/SF00000001/messages/reminder', operator);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().detail).toContain('patientReminder');
    const badTemplate = await call('/api/demoUsers/SF00000001/messages/..%2Fetc', operator);
    expect(badTemplate.statusCode).toBe(400);
    expect(badTemplate.json().errors[0].field).toBe('params.messageTemplate');
    const badType = await call('/api/demoUsers/SF00000001/messages/patientReminderConfirmationThanks?type=fax', operator);
    expect(badType.statusCode).toBe(400);
    expect(badType.json().errors[0].field).toBe('querystring.type');
    expect((await call('/api/demoUsers/SF99999999/messages/patientReminder', operator)).statusCode).toBe(404);
    // A real user's organization is no demo, even when found by a salesforceId written to it.
    const regular = await signup(service.app);
    await sql.query('UPDATE "user" SET salesforce_id = \'SFREGULAR1\' WHERE id = $1', [regular.user._id]);
    expect((await call('/api/demoUsers/SFREGULAR1/messages/patientReminder', operator)).statusCode).toBe(404);

    // 30 samples an hour per demo account: two were sent, 28 more pass, the next is refused and nothing is recorded for it.
    for (let i = 0; i < 28; i += 1) expect((await call(url, operator)).statusCode).toBe(200);
    const before = (await events(user._id)).length;
    const limited = await call(url, operator);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await events(user._id)).length).toBe(before);
  });

  it('answers a browser opening a signed sample link with a small HTML page, and refuses links that are not signed', async () => {
    const created = (
      await call('/api/demoUsers', operator, {
        email: 'links@clinic.example',
        firstname: 'Lin',
        lastname: 'Links',
        salesforceId: 'SFLINKS001',
      })
    ).json();
    const demoPatient = '7b0f6c1e-3a52-4a8e-9f1d-0c2b5e6a7d02';
    await sql.query('UPDATE "user" SET demo_practice = $2 WHERE id = $1', [
      created._id,
      JSON.stringify({
        facilities: [],
        providers: [],
        appointmentTypes: [],
        workingHours: [],
        patients: [demoPatient],
        demoPatient,
        demoPhone: '+15557654322',
        waitlists: [],
        appointments: [],
        completedAt: '2026-12-06T00:00:00.000Z',
      }),
    ]);
    const link = new URL(created.sampleLinks.customActionRecall as string);
    expect(link.origin).toBe(PUBLIC_URL);
    const get = (path: string, headers: Record<string, string>) => service.app.inject({ method: 'GET', url: path, headers });
    const page = await get(`${link.pathname}${link.search}`, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('<code>customActionRecall</code>');
    expect(page.body).not.toContain('+15557654322');
    const json = await get(`${link.pathname}${link.search}`, { accept: 'application/json' });
    expect(json.json()).toMatchObject({ messageTemplate: 'customActionRecall', patient: demoPatient, status: 'requested' });
    // The OpenAPI document declares both answers, so a client generated from it knows the page as well as the JSON.
    const document = (await service.app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    const declared = document.paths['/api/demoUsers/{salesforceId}/messages/{messageTemplate}']?.get?.responses['200']?.content ?? {};
    expect(Object.keys(declared).sort()).toEqual(['application/json', 'text/html']);
    // The signature covers the sample: another sample's path with this link's signature is refused.
    expect((await get(`/api/demoUsers/SFLINKS001/messages/patientReminder${link.search}`, {})).statusCode).toBe(401);
    expect((await get('/api/demoUsers/SFLINKS001/messages/patientReminder', {})).statusCode).toBe(401);
    expect((await get('/api/demoUsers/SFLINKS001/messages/patientReminder', orgAdmin)).statusCode).toBe(403);
    expect((await get('/api/demoUsers/SFLINKS001/messages/patientReminder', operator)).statusCode).toBe(200);
  });
});
