import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOT_BUILT as BILLING_NOT_BUILT } from '@pep/billing';
import { NOT_BUILT as MESSAGING_NOT_BUILT } from '@pep/messaging';
import { NOT_BUILT as PATIENTS_NOT_BUILT } from '@pep/patients';
import { NOT_BUILT as SCHEDULING_NOT_BUILT } from '@pep/scheduling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileBodies, mapStrings, sampleOf, stringFields, urlOf, writeOperations, type Operation } from '../test/hostile-input.js';
import { startPlatform, type RunningPlatform } from './platform.js';

const BODY_LIMIT = 1_048_576;
const CREDENTIALS = { email: 'owner@hostile.example', password: 'correct horse battery staple' };

// Only endpoints a service lists as not built may answer 501 (and Zendesk sign-on, which this platform is not configured
// for); anything else at 5xx is a failure. The lists use v1 paths, the document OpenAPI's `{param}`.
const NOT_BUILT = new Set([
  ...[...PATIENTS_NOT_BUILT, ...SCHEDULING_NOT_BUILT, ...MESSAGING_NOT_BUILT, ...BILLING_NOT_BUILT].map(
    ([method, url]) => `${method} ${url.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{*}')}`,
  ),
  'POST /api/tokens/zendesk',
]);

interface Answer {
  status: number;
  contentType: string;
  body: { errors?: Array<{ field: string; message: string }> } & Record<string, unknown>;
  text: string;
}

describe('bad input on every write route of the API', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token: string;
  let userId: string;
  let signIns = 0;

  const signIn = async () => {
    const response = await fetch(`${platform.url}/api/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CREDENTIALS),
    });
    expect(response.status).toBe(200);
    token = ((await response.json()) as { token: string }).token;
    signIns += 1;
  };

  // A route under test may end the session it is called with (sign out, revoke); the sweep signs in again and retries.
  const send = async (
    method: string,
    url: string,
    contentType: string | undefined,
    payload: string | undefined,
    retry = true,
  ): Promise<Answer> => {
    const response = await fetch(`${platform.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(contentType ? { 'content-type': contentType } : {}) },
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const text = await response.text();
    if (response.status === 401 && retry) {
      // Some routes answer 401 for their own reasons (a webhook's signature, a wrong password): retry only a lost session.
      const probe = await fetch(`${platform.url}/api/users/${userId}`, { headers: { authorization: `Bearer ${token}` } });
      await probe.arrayBuffer();
      if (probe.status === 401) {
        await signIn();
        return send(method, url, contentType, payload, false);
      }
    }
    let body = {};
    try {
      body = JSON.parse(text) as Answer['body'];
    } catch {
      // Left empty: the checks below report the content type.
    }
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body, text };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-bad-input-'));
    platform = await startPlatform({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      bodyLimit: BODY_LIMIT,
      rateLimitPerMinute: 1_000_000,
    });
    const signup = await fetch(`${platform.url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...CREDENTIALS, firstname: 'Hostile', lastname: 'Tester', organizationName: 'Hostile Input Clinic' }),
    });
    expect(signup.status).toBe(200);
    userId = ((await signup.json()) as { user: { _id: string } }).user._id;
    await signIn();
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const operations = async (): Promise<Operation[]> => {
    const document = await fetch(`${platform.url}/api/docs/json`, { headers: { authorization: `Bearer ${token}` } });
    expect(document.status).toBe(200);
    return writeOperations((await document.json()) as Parameters<typeof writeOperations>[0]);
  };

  it('refuses a NUL byte in a text field of patients, providers, facilities, templates, waitlists and groups, and a 3,000-deep settings, with 400 naming the field', async () => {
    const byRoute = new Map((await operations()).map((operation) => [`${operation.method} ${operation.path}`, operation]));
    for (const route of [
      'POST /api/patients',
      'POST /api/providers',
      'POST /api/facilities',
      'POST /api/patientMessageTemplates',
      'POST /api/waitlists',
      'POST /api/groups',
    ]) {
      const operation = byRoute.get(route);
      expect(operation?.body, route).toBeDefined();
      const sample = sampleOf(operation!.body);
      const response = await send(
        operation!.method,
        urlOf(operation!),
        'application/json',
        JSON.stringify(mapStrings(sample, (text) => `${text}\u0000`)),
      );
      expect(response.status, `${route} ${response.text}`).toBe(400);
      expect(response.contentType).toMatch(/^application\/problem\+json/);
      expect(response.body.errors?.map((error) => error.field).sort(), route).toEqual(stringFields(sample).slice(0, 20).sort());
    }
    let deep: unknown = { theme: 'dark' };
    for (let level = 0; level < 3000; level += 1) deep = level % 2 === 0 ? [deep] : { nested: deep };
    const settings = await send(
      'POST',
      '/api/settings',
      'application/json',
      JSON.stringify({ ref: 'organization', settings: { layout: deep } }),
    );
    expect(settings.status, settings.text).toBe(400);
    expect(settings.body.errors?.[0]?.field).toMatch(/^body\.settings\.layout(\.(0|nested))+$/);
    expect(settings.body.errors?.[0]?.message).toMatch(/nested too deep/);
  });

  it('refuses a NUL byte in a query string and a malformed percent-encoded path with a 400 problem, at the gateway and at each service', async () => {
    const search = await send('GET', '/api/patients/search?type=name&value=%00', undefined, undefined);
    expect(search.status).toBe(400);
    expect(search.body.errors).toEqual([expect.objectContaining({ field: 'querystring.value' })]);
    for (const base of [platform.url, ...Object.values(platform.services)]) {
      const response = await fetch(`${base}/api/patients/%E0%A4%A`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status, base).toBe(400);
      expect(response.headers.get('content-type'), base).toMatch(/^application\/problem\+json/);
      expect(await response.json()).toMatchObject({ status: 400, errors: [{ field: 'path' }] });
    }
  });

  it('answers every write operation of the OpenAPI document and every hostile body without a 5xx, each 400 a problem naming the field at fault', async () => {
    const all = await operations();
    // The sweep is only as good as the document: it must list the routes of every service.
    expect(all.length).toBeGreaterThan(100);
    for (const route of ['POST /api/patients', 'PUT /api/availabilities', 'POST /api/users/signup', 'POST /api/messageTemplates']) {
      expect(all.map((operation) => `${operation.method} ${operation.path}`)).toContain(route);
    }
    const failures: string[] = [];
    let requests = 0;
    const sweep = async (operation: Operation) => {
      const route = `${operation.method} ${operation.path}`;
      for (const hostile of hostileBodies(operation, BODY_LIMIT)) {
        const answer = await send(operation.method, urlOf(operation), hostile.contentType, hostile.payload);
        requests += 1;
        const fault = (why: string) => failures.push(`${route} [${hostile.name}] ${why}: ${answer.status} ${answer.text.slice(0, 300)}`);
        if (answer.status >= 500 && !(answer.status === 501 && NOT_BUILT.has(route))) fault('server error');
        if (answer.status >= 400 && !answer.contentType.startsWith('application/problem+json')) fault('not problem+json');
        if (answer.status !== 400) continue;
        const named = (answer.body.errors ?? []).map((error) => error.field);
        if (hostile.fieldAtFault && named.length === 0) fault('400 names no field');
        const missing = hostile.fields.filter((field) => !named.includes(field));
        if (missing.length > 0) fault(`400 does not name ${missing.join(', ')}`);
      }
    };
    // A few at a time: the platform runs on PGlite in this process, and the machine has two cores.
    const queue = [...all];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let operation = queue.shift(); operation; operation = queue.shift()) await sweep(operation);
      }),
    );
    expect(failures).toEqual([]);
    expect(requests).toBe(all.length * hostileBodies(all[0]!, BODY_LIMIT).length);
    // Sign-outs among the routes are expected; a session lost on every request would mean the sweep tested only 401s.
    expect(signIns).toBeLessThan(all.length);
  }, 600_000);
});
