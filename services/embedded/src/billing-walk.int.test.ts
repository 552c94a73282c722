import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';
import { SANDBOX_TOKEN_HEADER } from './sandbox.routes.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

// The walk the billing README gives a newcomer with curl: a declined test card opens a grace period, the sandbox clock
// moves past it, the organization can read but not write (402), a successful test card lifts it at once.
describe('embedded platform: access follows payment, in the billing sandbox', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token = '';
  let organization = '';
  let sandboxToken = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-billing-walk-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
    sandboxToken = (await readFile(platform.sandboxTokenFile!, 'utf8')).trim();
  }, 120_000);
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Body, type: response.headers.get('content-type') };
  };
  const sandbox = async (path: string, body: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SANDBOX_TOKEN_HEADER]: sandboxToken },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const standing = async () => (await api('GET', '/api/billing')).body['standing'] as string | undefined;
  const newPatient = () => api('POST', '/api/patients', { firstname: 'Pat', lastname: 'Jones', phone: '(415) 555-2671' });

  it('walks fail → grace → suspend (402 on writes, reads and billing open) → pay → lifted', { timeout: 180_000 }, async () => {
    const signup = await api('POST', '/api/users/signup', {
      email: 'billing-walk@clinic.example',
      password: 'a long passphrase',
      firstname: 'Ada',
      lastname: 'Admin',
      organizationName: 'Walk Clinic',
    });
    expect(signup.status).toBe(200);
    token = signup.body['token'];
    organization = signup.body['organization']['_id'];
    await waitFor(async () => (await api('GET', '/api/billing')).status === 200, { timeoutMs: 30_000, message: 'the billing account' });
    expect((await api('PUT', '/api/billing', { billingEmail: 'accounts@clinic.example' })).status).toBe(200);
    expect((await newPatient()).status).toBe(200);

    const declined = await sandbox('/sandbox/billing/charge', { organization, paymentMethod: 'pm_card_chargeDeclined' });
    expect(declined).toMatchObject({ status: 200, body: { status: 'failed', billing: { outcome: 'applied' } } });
    await waitFor(async () => (await standing()) === 'grace', { timeoutMs: 30_000, message: 'the grace period' });
    // Full access during the grace period.
    expect((await newPatient()).status).toBe(200);

    expect((await sandbox('/sandbox/clock', { advance: '15d' })).status).toBe(200);
    await waitFor(async () => (await standing()) === 'suspended', { timeoutMs: 30_000, message: 'the suspension' });
    const refused = await waitFor(
      async () => {
        const attempt = await newPatient();
        return attempt.status === 402 ? attempt : null;
      },
      { timeoutMs: 30_000, message: 'writes refused with 402' },
    );
    expect(refused.type).toMatch(/^application\/problem\+json/);
    expect(refused.body).toMatchObject({ type: '/problems/payment-required', status: 402 });
    expect((await api('GET', '/api/patients')).status).toBe(200);
    expect((await api('PUT', '/api/billing', { billingEmail: 'accounts@clinic.example' })).status).toBe(200);

    const paid = await sandbox('/sandbox/billing/charge', { organization, paymentMethod: 'pm_card_visa' });
    expect(paid).toMatchObject({ status: 200, body: { status: 'succeeded' } });
    await waitFor(async () => (await newPatient()).status === 200, { timeoutMs: 30_000, message: 'writes allowed again' });
    expect(await standing()).toBe('good-standing');
  });

  it('refuses a payment method the sandbox does not know, and a caller without the sandbox token', async () => {
    expect((await sandbox('/sandbox/billing/charge', { organization, paymentMethod: 'pm_card_mastercard' })).status).toBe(400);
    const response = await fetch(`${platform.url}/sandbox/billing/charge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization, paymentMethod: 'pm_card_visa' }),
    });
    expect(response.status).toBe(403);
  });
});
