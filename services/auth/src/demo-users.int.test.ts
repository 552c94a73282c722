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
    operator = { 'x-internal-identity': await signIdentity(SECRET, { organization: owner.organization._id, user: owner.user._id, roles: ['platform-admin'] }) };
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const call = (url: string, headers: Record<string, string>, payload?: unknown) =>
    service.app.inject({ method: 'POST', url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const events = async (key: string) =>
    (await sql.query("SELECT envelope FROM outbox WHERE key = $1 ORDER BY seq", [key])).rows.map((row) => row.envelope as { type: string; organization: string; data: Record<string, unknown> });

  it('creates a demo organization with the prospect as its pending admin, for platform admins only', async () => {
    const body = { email: 'Prospect@Hospital.Example', firstname: 'Paula', lastname: 'Prospect', salesforceId: '0035g00000AbCdEFG1', demoConfiguration: { seats: 3 } };
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
    const [mail] = await waitFor(async () => {
      const mails = await mailsTo(service.mailDir, 'prospect@hospital.example');
      return mails.length > 0 ? mails : null;
    }, { timeoutMs: 20_000, message: 'the welcome mail' });
    expect(mail!.text).toContain(`${PUBLIC_URL}/reset-password/`);

    const again = await call('/api/demoUsers', operator, { ...body, email: 'other@hospital.example' });
    expect(again.statusCode).toBe(409);
    expect(again.json().type).toBe('/problems/salesforce-id-taken');
    expect((await call('/api/demoUsers', operator, { ...body, salesforceId: '0035g00000ZZZZZZZ9' })).json().type).toBe('/problems/email-taken');
    const bad = await call('/api/demoUsers', operator, { ...body, salesforceId: 'no spaces!', extra: 1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.map((error: { field: string }) => error.field).sort()).toEqual(['body.extra', 'body.salesforceId']);
  });

  it('asks messaging to send a demo user a sample message through an event', async () => {
    const user = (await call('/api/demoUsers', operator, { email: 'trial@clinic.example', firstname: 'Tom', lastname: 'Trial', salesforceId: 'SF00000001' })).json();
    const url = '/api/demoUsers/SF00000001/messages/reminder';
    expect((await call(url, orgAdmin)).statusCode).toBe(403);
    const sent = await call(url, operator);
    expect(sent.statusCode).toBe(200);
    expect(sent.json()).toMatchObject({ user: user._id, organization: user.organization, salesforceId: 'SF00000001', messageTemplate: 'reminder', channel: 'email', status: 'requested' });
    const sms = await call('/api/demoUsers/SF00000001/messages/offer', operator, { channel: 'sms', phone: '+15551234567' });
    expect(sms.statusCode).toBe(200);
    const requested = (await events(user._id)).filter((event) => event.type === 'demo-user.message-requested');
    expect(requested.map((event) => event.data)).toEqual([
      { _id: user._id, salesforceId: 'SF00000001', messageTemplate: 'reminder', channel: 'email', to: 'trial@clinic.example', requestedBy: expect.any(String), firstname: 'Tom', lastname: 'Trial' },
      { _id: user._id, salesforceId: 'SF00000001', messageTemplate: 'offer', channel: 'sms', to: '+15551234567', requestedBy: expect.any(String), firstname: 'Tom', lastname: 'Trial' },
    ]);
    expect(requested.every((event) => event.organization === user.organization)).toBe(true);

    const noPhone = await call('/api/demoUsers/SF00000001/messages/reminder', operator, { channel: 'sms' });
    expect(noPhone.statusCode).toBe(400);
    expect(noPhone.json().errors).toEqual([{ field: 'body.phone', message: 'required for sms' }]);
    const badTemplate = await call('/api/demoUsers/SF00000001/messages/..%2Fetc', operator);
    expect(badTemplate.statusCode).toBe(400);
    expect(badTemplate.json().errors[0].field).toBe('params.messageTemplate');
    expect((await call('/api/demoUsers/SF99999999/messages/reminder', operator)).statusCode).toBe(404);
    // A real user's organization is no demo, even when found by a salesforceId written to it.
    const regular = await signup(service.app);
    await sql.query("UPDATE \"user\" SET salesforce_id = 'SFREGULAR1' WHERE id = $1", [regular.user._id]);
    expect((await call('/api/demoUsers/SFREGULAR1/messages/reminder', operator)).statusCode).toBe(404);
  });
});
