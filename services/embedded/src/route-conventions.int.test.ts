import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

interface Operation {
  summary?: string;
  description?: string;
  security?: unknown[];
  parameters?: Array<{ in: string; name: string; required?: boolean }>;
  requestBody?: { required?: boolean };
}

const ROLE_LINE = /Roles: ([\w-]+(?:, [\w-]+)*)\.$/;
const PUBLIC_LINE = 'Public: no access token needed.';
const ANY_ID = '00000000-0000-4000-8000-000000000000';

// The route conventions across every service, through the gateway: who may call a route is declared once on it, so the
// merged document and the answers agree; a wrong method on a known path answers 405; a trailing slash changes nothing.
describe('embedded platform: route conventions', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token: string;
  let paths: Record<string, Record<string, Operation>>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-routes-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
    const credentials = { email: 'owner@routes.example', password: 'correct horse battery staple' };
    const signup = await fetch(`${platform.url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...credentials, firstname: 'Rita', lastname: 'Routes', organizationName: 'Routes Clinic' }),
    });
    expect(signup.status).toBe(200);
    token = ((await signup.json()) as { token: string }).token;
    paths = ((await (await fetch(`${platform.url}/api/docs/json`)).json()) as { paths: typeof paths }).paths;
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const operations = () =>
    Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
    );

  it('ends every built route’s description with who may call it, and gives the public ones no security', () => {
    const built = operations().filter(({ operation }) => operation.summary !== 'Not built yet');
    expect(built.length).toBeGreaterThan(150);
    // Bandwidth's webhook names its own Basic scheme instead.
    const undeclared = built.filter(
      ({ path, operation }) =>
        !path.startsWith('/webhooks/') && !ROLE_LINE.test(operation.description ?? '') && !operation.description?.endsWith(PUBLIC_LINE),
    );
    expect(undeclared.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
    for (const { method, path, operation } of built) {
      if (operation.description?.endsWith(PUBLIC_LINE)) expect(operation.security, `${method} ${path}`).toEqual([]);
      else if (!path.startsWith('/webhooks/')) expect(operation.security, `${method} ${path}`).toBeUndefined();
    }
  });

  it('lets no caller without a token through a route that names roles', async () => {
    const guarded = operations().filter(({ operation }) => ROLE_LINE.test(operation.description ?? ''));
    let refused = 0;
    for (const { method, path, operation } of guarded) {
      const url = path.replace(/\{[^}]+\}/g, ANY_ID);
      const hasBody = operation.requestBody !== undefined;
      const response = await fetch(`${platform.url}${url}`, {
        method,
        ...(hasBody ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      // Validation comes first, as it did when handlers checked the caller: a request short of required fields is a 400.
      expect([400, 401], `${method} ${path}`).toContain(response.status);
      expect(response.headers.get('content-type'), `${method} ${path}`).toMatch(/^application\/problem\+json/);
      if (response.status === 401) refused += 1;
    }
    // Most routes take no body or none required, so the role check itself answers them.
    expect(refused).toBeGreaterThan(guarded.length / 2);
  });

  it('answers a wrong method on a known path 405 with Allow, through the gateway, and an unknown path 404', async () => {
    const headers = { authorization: `Bearer ${token}` };
    const wrong = await fetch(`${platform.url}/api/patients`, { method: 'PATCH', headers });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(wrong.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await wrong.json()).toMatchObject({ status: 405, type: '/problems/method-not-allowed', instance: '/api/patients' });
    const byId = await fetch(`${platform.url}/api/providers/${ANY_ID}`, { method: 'POST', headers });
    expect(byId.status).toBe(405);
    expect(byId.headers.get('allow')).toBe('DELETE, GET, HEAD, PUT');
    expect((await fetch(`${platform.url}/api/patients/${ANY_ID}/nothing-here`, { headers })).status).toBe(404);
  });

  it('serves a collection with and without its trailing slash', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${platform.url}/api/patients/`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ firstname: 'Sam', lastname: 'Slash' }),
    });
    expect(created.status).toBe(200);
    for (const url of ['/api/patients', '/api/patients/']) {
      const listed = await fetch(`${platform.url}${url}`, { headers });
      expect(listed.status, url).toBe(200);
      expect(
        ((await listed.json()) as { response: Array<{ lastname: string }> }).response.map((patient) => patient.lastname),
        url,
      ).toEqual(['Slash']);
    }
  });
});
