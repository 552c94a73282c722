import { kafkaBrokers } from '@pep/testing';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, startAuth, type AuthUnderTest } from '../test/harness.js';

const ZENDESK_SECRET = 'zendesk-shared-secret-0123456789';

describe('auth service: Zendesk single sign-on tokens', () => {
  let configured: AuthUnderTest;
  let unconfigured: AuthUnderTest;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    [configured, unconfigured] = await Promise.all([
      startAuth('zendesk', brokers, { zendeskSharedSecret: ZENDESK_SECRET }),
      startAuth('zendesk-off', brokers),
    ]);
  });
  afterAll(async () => {
    await configured?.close();
    await unconfigured?.close();
  });

  it('signs an HS256 JWT with the shared secret for the calling user', async () => {
    const owner = await signup(configured.app, { firstname: 'Zoe', lastname: 'Zen' });
    expect((await configured.app.inject({ method: 'POST', url: '/api/tokens/zendesk' })).statusCode).toBe(401);
    const response = await configured.app.inject({ method: 'POST', url: '/api/tokens/zendesk', headers: await bearer(owner.token) });
    expect(response.statusCode).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(response.json().token, new TextEncoder().encode(ZENDESK_SECRET), {
      algorithms: ['HS256'],
    });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({
      email: owner.email,
      name: 'Zoe Zen',
      external_id: owner.user._id,
      organization: owner.organization._id,
    });
    expect(payload.exp! - payload.iat!).toBe(180);
    expect(typeof payload.jti).toBe('string');
  });

  it('answers 501 while no shared secret is configured', async () => {
    const owner = await signup(unconfigured.app);
    const response = await unconfigured.app.inject({ method: 'POST', url: '/api/tokens/zendesk', headers: await bearer(owner.token) });
    expect(response.statusCode).toBe(501);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
