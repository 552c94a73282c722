import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedReply, SINK_NUMBER } from '../../../scripts/sms-reply.mjs';
import { startPlatform, type RunningPlatform } from './platform.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = any;

/** The target of an RFC 8288 Link header's link with that rel, e.g. rel="next". */
function linkOf(header: string | null, rel: string): string | null {
  for (const part of (header ?? '').split(',')) {
    const match = /^\s*<([^>]*)>\s*;\s*rel="([^"]*)"\s*$/.exec(part);
    if (match && match[2]!.split(' ').includes(rel)) return match[1]!;
  }
  return null;
}

// A v1 client (the product's own tooling, integrators' code) sends exactly these requests: `x-access-token: Bearer`,
// JSON bodies as written below, and reads the answers by the paths it was written against ($[0]._id, $[0].text).
describe('v1 clients: shapes and parameters, through the gateway of the embedded platform', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  const PUBLIC_URL = 'https://clinic.example';
  let token = '';
  let organization = '';
  let admin = '';

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-v1-clients-'));
    platform = await startPlatform({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      publicUrl: PUBLIC_URL,
      dispatchIntervalMs: 100,
    });
    const signup = await fetch(`${platform.url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'owner@v1-clinic.example',
        password: 'correct horse battery staple',
        firstname: 'Olive',
        lastname: 'Owner',
        organizationName: 'V1 Clinic',
      }),
    });
    const body = (await signup.json()) as Body;
    expect(signup.status, JSON.stringify(body)).toBe(200);
    token = body.token;
    organization = body.organization._id;
    admin = body.user._id;
  }, 120_000);
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A request as the v1 client sends it. */
  const v1 = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Body };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await v1(method, path, body);
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
    return response;
  };

  it(
    'patient search answers a bare array ($[0]._id) with X-Total-Count and a Link rel="next" that gives the next page',
    { timeout: 60_000 },
    async () => {
      const names = ['Ada', 'Adele', 'Adrian'];
      const created = [];
      for (const firstname of names)
        created.push((await ok('POST', '/api/patients', { firstname, lastname: 'Searchable', phone: '+14155550101' })).body);

      const first = await ok('GET', '/api/patients/search?type=name&value=Searchable&scope=patient');
      expect(Array.isArray(first.body)).toBe(true);
      expect(first.body.map((patient: Body) => patient._id).sort()).toEqual(created.map((patient) => patient._id).sort());
      expect(first.body[0]._id).toEqual(expect.any(String));
      expect(first.headers.get('x-total-count')).toBe('3');
      expect(linkOf(first.headers.get('link'), 'next')).toBeNull();

      // Two to a page: the Link header leads to the last one, and nothing is lost or repeated.
      const page1 = await ok('GET', '/api/patients/search?type=name&value=Searchable&scope=patient&limit=2');
      expect(page1.body).toHaveLength(2);
      expect(page1.headers.get('x-total-count')).toBe('3');
      const next = linkOf(page1.headers.get('link'), 'next');
      expect(next).toMatch(/^\/api\/patients\/search\?/);
      const page2 = await ok('GET', next!);
      expect(page2.body).toHaveLength(1);
      expect(page2.headers.get('x-total-count')).toBe('3');
      expect(linkOf(page2.headers.get('link'), 'next')).toBeNull();
      expect(linkOf(page2.headers.get('link'), 'prev')).toMatch(/[?&]page=1(&|$)/);
      expect([...page1.body, ...page2.body].map((patient: Body) => patient._id).sort()).toEqual(
        created.map((patient) => patient._id).sort(),
      );
      expect(page2.body[0]).toMatchObject({ user: organization, organization });
      // Auth's views carry the same root account: the signed-up admin's and the organization's own.
      expect((await ok('GET', `/api/users/${admin}`)).body).toMatchObject({ _id: admin, user: organization });

      // The headers are readable by browser clients too.
      const preflight = await fetch(`${platform.url}/api/patients/search?type=name&value=Searchable`, {
        headers: { origin: 'https://tool.example', 'x-access-token': `Bearer ${token}` },
      });
      expect(preflight.headers.get('access-control-expose-headers')).toMatch(/x-total-count/);
      expect(preflight.headers.get('access-control-expose-headers')).toMatch(/link/);
    },
  );

  it('providers and facilities are found by name (value stays an alias), in {response: [...]}', { timeout: 60_000 }, async () => {
    const provider = (await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopperfield' })).body;
    const facility = (await ok('POST', '/api/facilities', { name: 'Northside Clinic', timeZone: 'America/New_York' })).body;

    const providers = await ok('GET', '/api/providers/search?name=Hopperfield');
    expect(providers.body.response.map((found: Body) => found._id)).toEqual([provider._id]);
    expect(providers.body.response[0]).toMatchObject({ user: organization });
    const facilities = await ok('GET', '/api/facilities/search?name=Northside');
    expect(facilities.body.response.map((found: Body) => found._id)).toEqual([facility._id]);

    expect((await ok('GET', '/api/providers/search?value=Hopperfield')).body.response.map((found: Body) => found._id)).toEqual([
      provider._id,
    ]);
    expect((await ok('GET', '/api/facilities/search?value=Northside')).body.response.map((found: Body) => found._id)).toEqual([
      facility._id,
    ]);

    const neither = await v1('GET', '/api/providers/search');
    expect(neither.status).toBe(400);
    expect(neither.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(neither.body)).toContain('querystring.name');
  });

  it(
    'books with the v1 body: no type, source manual, duration as a string, user the root account or a user of the organization',
    { timeout: 60_000 },
    async () => {
      const provider = (await ok('POST', '/api/providers', { firstname: 'Barbara', lastname: 'Liskov' })).body;
      const facility = (await ok('POST', '/api/facilities', { name: 'Eastside Clinic', timeZone: 'America/New_York' })).body;
      const patient = (await ok('POST', '/api/patients', { firstname: 'Bea', lastname: 'Booker', phone: '+14155550102' })).body;
      // The client sends back the `user` it read from a record: the root account.
      expect(patient.user).toBe(organization);

      const booked = await ok('POST', '/api/appointments', {
        facility: facility._id,
        provider: provider._id,
        status: 'unconfirmed',
        source: 'manual',
        duration: '15',
        user: patient.user,
        patient: patient._id,
        date: '2036-03-02T15:30:00.000Z',
      });
      expect(booked.body).toMatchObject({
        _id: expect.any(String),
        user: organization,
        organization,
        patient: patient._id,
        provider: provider._id,
        facility: facility._id,
        type: null,
        source: 'manual',
        status: 'unconfirmed',
        duration: 15,
        date: '2036-03-02T15:30:00.000Z',
      });
      expect((await ok('GET', `/api/appointments/${booked.body._id}`)).body).toEqual(booked.body);

      // The account the client logged in with is accepted too; without a duration, the organization's default (15).
      const byAdmin = await ok('POST', '/api/appointments', {
        facility: facility._id,
        provider: provider._id,
        status: 'unconfirmed',
        source: 'manual',
        user: admin,
        patient: patient._id,
        date: '2036-03-02T17:00:00.000Z',
      });
      expect(byAdmin.body).toMatchObject({ type: null, duration: 15, user: organization });

      // Another user of the organization, created as an admin would: auth says it is one of the organization's users.
      const colleague = (await ok('POST', '/api/users', { email: 'front-desk@v1-clinic.example', firstname: 'Fran', lastname: 'Desk' }))
        .body;
      const byColleague = await ok('POST', '/api/appointments', {
        facility: facility._id,
        provider: provider._id,
        status: 'unconfirmed',
        source: 'manual',
        duration: '15',
        user: colleague._id,
        patient: patient._id,
        date: '2036-03-02T18:00:00.000Z',
      });
      expect(byColleague.body).toMatchObject({ patient: patient._id, user: organization, organization });

      // Another tenant's root account is refused, naming the field, and nothing is booked.
      const other = await fetch(`${platform.url}/api/users/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'owner@other-clinic.example',
          password: 'correct horse battery staple',
          firstname: 'Otto',
          lastname: 'Other',
          organizationName: 'Other Clinic',
        }),
      });
      const otherBody = (await other.json()) as Body;
      const otherOrganization = otherBody.organization._id;
      const before = (await ok('GET', `/api/appointments?patient=${patient._id}`)).body.total;
      // Another organization's root account, a user of another organization (its admin) and an unknown id.
      for (const user of [otherOrganization, otherBody.user._id, '6f1c1a52-7d0e-4c7e-9a4b-2a1f0c3b9d11']) {
        const refused = await v1('POST', '/api/appointments', {
          facility: facility._id,
          provider: provider._id,
          status: 'unconfirmed',
          source: 'manual',
          duration: '15',
          user,
          patient: patient._id,
          date: '2036-03-03T15:30:00.000Z',
        });
        expect(refused.status).toBe(404);
        expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(refused.body.errors).toEqual([expect.objectContaining({ field: 'body.user' })]);
      }
      expect((await ok('GET', `/api/appointments?patient=${patient._id}`)).body.total).toBe(before);
    },
  );

  it(
    "a patient's messages are a bare array, newest first ($[0].text), each with from, to, text, direction, status and externalId.value",
    { timeout: 90_000 },
    async () => {
      const patient = (await ok('POST', '/api/patients', { firstname: 'Mia', lastname: 'Messaged', phone: '+14155550103' })).body;
      const first = (await ok('POST', '/api/messages', { patient: patient._id, text: 'First note from the clinic' })).body;
      const second = (await ok('POST', '/api/messages', { patient: patient._id, text: 'Second note from the clinic' })).body;
      for (const sent of [first, second]) {
        expect(sent).toMatchObject({ direction: 'outbound', from: SINK_NUMBER, to: '+14155550103', status: 'sent', user: organization });
        expect(sent.externalId.value).toMatch(/^SM[0-9a-f]{32}$/);
      }
      expect(second.externalId.value).not.toBe(first.externalId.value);

      // The patient answers; the sink takes the reply as Twilio would post it.
      const sinkToken = (await readFile(platform.smsWebhookTokenFile, 'utf8')).trim();
      const signed = signedReply({ token: sinkToken, publicUrl: PUBLIC_URL, from: '+14155550103', text: 'Thanks, see you then' });
      expect((await fetch(`${platform.url}${signed.path}`, { method: 'POST', headers: signed.headers, body: signed.body })).status).toBe(
        200,
      );
      const replySid = new URLSearchParams(signed.body).get('MessageSid');

      const listed = await waitFor(
        async () => {
          const response = await ok('GET', `/api/messages?patient=${patient._id}`);
          return response.body.length >= 3 ? response : null;
        },
        { timeoutMs: 30_000, message: 'the reply is listed' },
      );
      expect(Array.isArray(listed.body)).toBe(true);
      expect(listed.body[0].text).toBe('Thanks, see you then');
      expect(listed.body[0]).toMatchObject({
        direction: 'inbound',
        from: '+14155550103',
        to: SINK_NUMBER,
        status: 'delivered',
        externalId: { value: replySid },
      });
      const texts = listed.body.map((message: Body) => message.text);
      expect(texts.indexOf('Second note from the clinic')).toBeLessThan(texts.indexOf('First note from the clinic'));
      const dates = listed.body.map((message: Body) => Date.parse(message.createdAt));
      expect([...dates].sort((x, y) => y - x)).toEqual(dates);
      for (const message of listed.body) {
        expect(message).toEqual(
          expect.objectContaining({
            from: expect.any(String),
            to: expect.any(String),
            text: expect.any(String),
            direction: expect.any(String),
            status: expect.any(String),
          }),
        );
        expect(message.externalId.value).toEqual(expect.any(String));
      }
      expect(listed.headers.get('x-total-count')).toBe(String(listed.body.length));

      // One to a page, following rel="next" to the end, gives every message once, in the same order.
      const walked: string[] = [];
      let next: string | null = `/api/messages?patient=${patient._id}&limit=1`;
      for (let pages = 0; next && pages < 20; pages += 1) {
        const page = await ok('GET', next);
        expect(page.body).toHaveLength(1);
        walked.push(page.body[0]._id);
        next = linkOf(page.headers.get('link'), 'next');
      }
      expect(walked).toEqual(listed.body.map((message: Body) => message._id));
    },
  );

  it(
    "auth's views carry `user`, the organization's root account: groups, settings, widgets, integrator clients, activities",
    { timeout: 60_000 },
    async () => {
      const created = [
        (await ok('POST', '/api/groups', { name: 'Front desk' })).body,
        (await ok('POST', '/api/settings', { ref: 'user', refId: admin, settings: { helpText: 'Call the front desk' } })).body,
        (await ok('POST', '/api/widgets', { name: 'Booking widget' })).body,
        (await ok('POST', '/api/integratorClients', { name: 'EHR bridge' })).body,
      ];
      for (const view of created) expect(view).toMatchObject({ organization, user: organization });
      for (const path of ['/api/groups', '/api/settings', '/api/widgets', '/api/integratorClients']) {
        const listed = (await ok('GET', path)).body.response as Body[];
        expect(listed.length, path).toBeGreaterThan(0);
        for (const view of listed) expect(view, path).toMatchObject({ user: organization });
      }
      // The feed fills from everyone's events; the bookings above are in it once their events have arrived.
      const activities = await waitFor(
        async () => {
          const listed = (await ok('GET', '/api/activities')).body.response as Body[];
          return listed.length > 0 ? listed : undefined;
        },
        { timeoutMs: 30_000, message: 'activities' },
      );
      for (const view of activities) expect(view).toMatchObject({ organization, user: organization });
    },
  );

  it(
    'an integrator client gets the rate limit its admin gave it, with RateLimit headers to pace itself by',
    { timeout: 60_000 },
    async () => {
      const sync = async (rateLimitPerMinute: number) => {
        const client = (await ok('POST', '/api/integratorClients', { name: `Sync at ${rateLimitPerMinute}`, rateLimitPerMinute })).body;
        const login = await fetch(`${platform.url}/api/integratorClients/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ clientId: client.clientId, clientSecret: client.clientSecret }),
        });
        const { token: clientToken } = (await login.json()) as Body;
        return () => fetch(`${platform.url}/api/providers`, { headers: { authorization: `Bearer ${clientToken}` } });
      };
      // Far above the gateway's default of 600 a minute: the token's own limit is what the gateway applies.
      const fast = await sync(1200);
      const first = await fast();
      expect(first.status).toBe(200);
      expect(first.headers.get('ratelimit-limit')).toBe('1200');
      expect(first.headers.get('ratelimit-remaining')).toBe('1199');
      expect(first.headers.get('ratelimit-policy')).toBe('1200;w=60');
      // And below it, where the default would still let it through.
      const slow = await sync(2);
      const answers = [await slow(), await slow(), await slow()];
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
      expect(answers.map((answer) => answer.headers.get('ratelimit-remaining'))).toEqual(['1', '0', '0']);
      expect(Number(answers[2]!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(answers[2]!.headers.get('content-type')).toMatch(/problem\+json/);
    },
  );

  it('the OpenAPI document shows the bare arrays with their paging headers, and the v1 booking body', async () => {
    const document = (await (await fetch(`${platform.url}/api/docs/json`)).json()) as Body;
    // Resources are named components (`Message`, `Group`…) that operations refer to.
    const resolved = (schema: Body): Body => (schema.$ref ? document.components.schemas[schema.$ref.split('/').pop()] : schema);
    for (const path of ['/api/patients/search', '/api/messages']) {
      const answer = document.paths[path].get.responses['200'];
      expect(answer.content['application/json'].schema.type, path).toBe('array');
      expect(Object.keys(answer.headers ?? {}), path).toEqual(expect.arrayContaining(['X-Total-Count', 'Link']));
    }
    expect(document.paths['/api/providers/search'].get.responses['200'].content['application/json'].schema.properties).toHaveProperty(
      'response',
    );
    const searchParameters = document.paths['/api/providers/search'].get.parameters.map((parameter: Body) => parameter.name);
    expect(searchParameters).toEqual(expect.arrayContaining(['name', 'value']));
    const booking = document.paths['/api/appointments'].post.requestBody.content['application/json'].schema;
    expect(booking.required).not.toContain('type');
    expect(booking.properties).toHaveProperty('user');
    expect(booking.properties.source.enum).toContain('manual');
    const message = resolved(document.paths['/api/messages/{id}'].get.responses['200'].content['application/json'].schema);
    expect(message.properties).toHaveProperty('direction');
    for (const path of ['/api/groups/{id}', '/api/settings/{id}', '/api/widgets/{id}', '/api/integratorClients/{id}']) {
      const operation = document.paths[path].get ?? document.paths[path].put;
      expect(resolved(operation.responses['200'].content['application/json'].schema).properties, path).toHaveProperty('user');
    }
    expect(message.properties.externalId.anyOf ?? [message.properties.externalId]).toEqual(
      expect.arrayContaining([expect.objectContaining({ properties: expect.objectContaining({ value: expect.anything() }) })]),
    );
    // Every answer documents the rate limit headers, and a 429 with Retry-After; a client's own limit is in its schema.
    expect(Object.keys(document.paths['/api/patients/search'].get.responses['200'].headers)).toEqual(
      expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy']),
    );
    expect(document.paths['/api/appointments'].post.responses['429']).toEqual({ $ref: '#/components/responses/RateLimited' });
    expect(document.components.responses.RateLimited.headers).toHaveProperty('Retry-After');
    expect(document.paths['/api/integratorClients'].post.requestBody.content['application/json'].schema.properties).toHaveProperty(
      'rateLimitPerMinute',
    );
  });
});
