import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kafkaBrokers, type SmtpSink, startSmtpSink, waitFor } from '@pep/testing';
import type { ParsedMail } from 'mailparser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, signup, startAuth, type AuthUnderTest } from '../test/harness.js';
import { FORGOT_PASSWORD_MESSAGE } from './password-reset.service.js';

describe('auth service: forgotten passwords, over real SMTP', () => {
  let service: AuthUnderTest;
  let smtp: SmtpSink;
  let sql: pg.Client;
  let inbox: SmtpSink['inbox'] = [];

  beforeAll(async () => {
    smtp = await startSmtpSink();
    inbox = smtp.inbox;
    service = await startAuth('password-reset', await kafkaBrokers(), { mailer: { from: 'auth@example.test', smtpUrl: smtp.url } });
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await smtp?.close();
  });

  const forgot = (email: string, address = '203.0.113.50') =>
    service.app.inject({ method: 'POST', url: '/api/users/forgot-password', payload: { email }, headers: { 'x-forwarded-for': address } });
  const mailTo = (email: string) =>
    waitFor(() => inbox.find((mail) => mail.text?.includes('reset') && JSON.stringify(mail.to).includes(email)), {
      timeoutMs: 10_000,
      message: `mail to ${email}`,
    });
  const linkIn = (mail: ParsedMail) => {
    const match = new RegExp(`${PUBLIC_URL}/reset-password/([\\w-]+)`).exec(mail.text ?? '');
    expect(match, 'reset link in the mail').not.toBeNull();
    return match![1]!;
  };
  const login = (email: string, password: string) =>
    service.app.inject({ method: 'POST', url: '/api/users/login', payload: { email, password } });

  it('mails a single-use link that sets a new password and ends every session', async () => {
    const account = await signup(service.app);
    const response = await forgot(account.email);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ message: FORGOT_PASSWORD_MESSAGE });

    const mail = await mailTo(account.email);
    expect(mail.from?.text).toContain('auth@example.test');
    const token = linkIn(mail);
    const { rows } = await sql.query('SELECT token_hash FROM password_reset_token');
    expect(rows.map((row) => row.token_hash)).not.toContain(token);

    expect((await service.app.inject({ url: `/api/users/reset-password/${token}` })).statusCode).toBe(200);
    const reset = await service.app.inject({
      method: 'POST',
      url: `/api/users/reset-password/${token}`,
      payload: { password: 'a brand new passphrase' },
    });
    expect(reset.statusCode).toBe(200);

    expect((await login(account.email, account.password)).statusCode).toBe(401);
    expect((await login(account.email, 'a brand new passphrase')).statusCode).toBe(200);
    // Sessions from before the reset are over.
    expect(
      (await service.app.inject({ method: 'POST', url: '/api/tokens/validate', payload: { refreshToken: account.refreshToken } }))
        .statusCode,
    ).toBe(401);

    const again = await service.app.inject({
      method: 'POST',
      url: `/api/users/reset-password/${token}`,
      payload: { password: 'yet another passphrase' },
    });
    expect(again.statusCode).toBe(400);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await service.app.inject({ url: `/api/users/reset-password/${token}` })).statusCode).toBe(400);
    expect((await login(account.email, 'a brand new passphrase')).statusCode).toBe(200);
  });

  it('answers the same for unknown e-mails and sends nothing', async () => {
    const before = inbox.length;
    const response = await forgot('no-account-here@clinic.example', '203.0.113.51');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ message: FORGOT_PASSWORD_MESSAGE });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(inbox.length).toBe(before);
  });

  it('expires links after an hour', async () => {
    const account = await signup(service.app);
    await forgot(account.email, '203.0.113.52');
    const token = linkIn(await mailTo(account.email));
    service.clock.advance(60 * 60 * 1000 + 1000);
    try {
      const response = await service.app.inject({
        method: 'POST',
        url: `/api/users/reset-password/${token}`,
        payload: { password: 'too late passphrase' },
      });
      expect(response.statusCode).toBe(400);
    } finally {
      service.clock.advance(-(60 * 60 * 1000 + 1000));
    }
    expect((await login(account.email, account.password)).statusCode).toBe(200);
  });

  it('refuses made-up links and weak new passwords', async () => {
    expect(
      (
        await service.app.inject({
          method: 'POST',
          url: `/api/users/reset-password/${'x'.repeat(43)}`,
          payload: { password: 'long enough passphrase' },
        })
      ).statusCode,
    ).toBe(400);
    const weak = await service.app.inject({
      method: 'POST',
      url: `/api/users/reset-password/${'x'.repeat(43)}`,
      payload: { password: 'short' },
    });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().errors.map((error: { field: string }) => error.field)).toContain('body.password');
  });

  it('rate limits requests per e-mail', async () => {
    const account = await signup(service.app);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) statuses.push((await forgot(account.email, `198.51.100.${attempt + 10}`)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

describe('auth service: mail without SMTP goes to .eml files', () => {
  let service: AuthUnderTest;

  beforeAll(async () => {
    service = await startAuth('mail-dir', await kafkaBrokers());
  });
  afterAll(async () => {
    await service?.close();
  });

  it('writes the reset mail into the mail folder', async () => {
    const account = await signup(service.app);
    await service.app.inject({ method: 'POST', url: '/api/users/forgot-password', payload: { email: account.email } });
    const files = await waitFor(async () => {
      const names = await readdir(service.mailDir);
      return names.length > 0 ? names : null;
    });
    expect(files[0]).toMatch(/\.eml$/);
    const eml = await readFile(join(service.mailDir, files[0]!), 'utf8');
    expect(eml).toContain(`To: ${account.email}`);
    expect(eml).toContain(`${PUBLIC_URL}/reset-password/`);
  });
});
