import Fastify, { type FastifyInstance } from 'fastify';
import { createLogger } from '@pep/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';

const logger = createLogger({ service: 'gateway-test', level: 'silent' });

// The gateway as every deployment builds it (services/gateway/src/main.ts): no sandbox, a home page, the reset page routed to auth.
describe('gateway: the host root', () => {
  let auth: FastifyInstance;
  let authUrl: string;
  const seen: Array<{ method: string; url: string; body: unknown }> = [];

  beforeAll(async () => {
    auth = Fastify();
    auth.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    auth.all('/reset-password/:token', async (request, reply) => {
      seen.push({ method: request.method, url: request.url, body: request.body });
      return reply.type('text/html').send('<p>the page</p>');
    });
    authUrl = await auth.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await auth.close();
  });

  const gateway = () => buildApp({ logger, upstreams: { auth: authUrl }, internalAuthSecret: 's'.repeat(40) });

  it('points a browser at the API docs and the status in HTML, and an API client in JSON', async () => {
    const app = await gateway();
    const browser = await app.inject({
      method: 'GET',
      url: '/',
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(browser.statusCode).toBe(200);
    expect(browser.headers['content-type']).toMatch(/^text\/html/);
    expect(browser.body).toContain('href="/api/docs"');
    expect(browser.body).toContain('href="/api/status"');
    expect(browser.body).not.toMatch(/<script/i);
    expect(browser.headers['content-security-policy']).toContain("script-src 'self'");

    for (const accept of [undefined, '*/*', 'application/json']) {
      const client = await app.inject({ method: 'GET', url: '/', ...(accept ? { headers: { accept } } : {}) });
      expect(client.statusCode).toBe(200);
      expect(client.headers['content-type']).toMatch(/^application\/json/);
      expect(client.json()).toEqual({
        name: 'patient-engagement-platform',
        docs: '/api/docs',
        openapi: '/api/docs/json',
        status: '/api/status',
      });
      expect(client.headers['vary']).toMatch(/accept/i);
    }
    await app.close();
  });

  it('has no sandbox: the embedded runtime alone adds /sandbox/*, so moving the clock answers 404 here', async () => {
    const app = await gateway();
    for (const [method, url] of [
      ['GET', '/sandbox/clock'],
      ['POST', '/sandbox/clock'],
      ['POST', '/sandbox/send-due'],
    ] as const) {
      const response = await app.inject({
        method,
        url,
        headers: { 'content-type': 'application/json', 'x-sandbox-token': 'anything' },
        payload: '{"advance":"14h"}',
      });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.headers['content-type']).toMatch(/problem\+json/);
    }
    await app.close();
  });

  it('routes the page the password-reset e-mails link to, and its form, to auth', async () => {
    const app = await gateway();
    const page = await app.inject({ method: 'GET', url: '/reset-password/abc123' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toBe('<p>the page</p>');
    const form = await app.inject({
      method: 'POST',
      url: '/reset-password/abc123',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'password=x&confirm=x',
    });
    expect(form.statusCode).toBe(200);
    expect(seen.slice(-2)).toEqual([
      { method: 'GET', url: '/reset-password/abc123', body: undefined },
      { method: 'POST', url: '/reset-password/abc123', body: 'password=x&confirm=x' },
    ]);
    await app.close();
  });
});
