import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signIdentity, type Identity } from './identity.js';
import { createLogger } from './logger.js';
import { callerOf, roleLine } from './route-access.js';
import { createServiceApp } from './service-app.js';

const SECRET = 'y'.repeat(40);
const silent = createLogger({ service: 'test', level: 'silent' });

async function buildApp() {
  const app = await createServiceApp({ name: 'test', logger: silent, internalAuthSecret: SECRET });
  const ran: string[] = [];
  app.get(
    '/api/things',
    { config: { roles: ['admin', 'manager'] }, schema: { summary: 'Things', description: 'Paged.' } },
    async (request) => {
      ran.push('list');
      return { caller: callerOf(request).user };
    },
  );
  app.post('/api/things', { config: { roles: ['admin'] }, schema: { body: z.object({ name: z.string() }).strict() } }, async (request) => {
    ran.push('create');
    return { caller: callerOf(request).user };
  });
  app.delete('/api/things/:id', { config: { roles: ['admin'] }, schema: { params: z.object({ id: z.uuid() }) } }, async () => ({
    ok: true,
  }));
  app.post('/api/login', { config: { roles: 'public' }, schema: { description: 'Signs in.' } }, async () => ({ ok: true }));
  app.get('/api/undeclared', async (request) => ({ caller: callerOf(request).user }));
  app.get(
    '/api/links',
    {
      config: { roles: ['admin'], anonymousIf: (request) => (request.query as { signature?: string }).signature === 'good' },
      schema: { querystring: z.object({ signature: z.string().optional() }) },
    },
    async (request) => ({ caller: request.identity ? callerOf(request).user : 'link' }),
  );
  await app.ready();
  return { app, ran };
}

const as = async (roles: string[]): Promise<Record<string, string>> => {
  const identity: Identity = { organization: 'org-1', user: 'user-1', roles };
  return { 'x-internal-identity': await signIdentity(SECRET, identity) };
};

describe('declared roles', () => {
  it('answers 401 without an identity, 403 for another role, and runs the handler for a declared one', async () => {
    const { app, ran } = await buildApp();
    const anonymous = await app.inject({ method: 'GET', url: '/api/things' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ type: '/problems/unauthenticated', status: 401 });
    const staff = await app.inject({ method: 'GET', url: '/api/things', headers: await as(['staff']) });
    expect(staff.statusCode).toBe(403);
    expect(staff.json()).toMatchObject({ type: '/problems/forbidden', status: 403, detail: 'Your role may not do this.' });
    expect(ran).toEqual([]);
    const manager = await app.inject({ method: 'GET', url: '/api/things', headers: await as(['staff', 'manager']) });
    expect(manager.statusCode).toBe(200);
    expect(manager.json()).toEqual({ caller: 'user-1' });
    expect(ran).toEqual(['list']);
  });

  it('validates before it checks roles, as handlers that checked the caller themselves did', async () => {
    const { app, ran } = await buildApp();
    const invalid = await app.inject({ method: 'POST', url: '/api/things', payload: { name: 1 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().errors).toEqual([{ field: 'body.name', message: expect.any(String) }]);
    const valid = await app.inject({ method: 'POST', url: '/api/things', payload: { name: 'a' } });
    expect(valid.statusCode).toBe(401);
    expect(ran).toEqual([]);
  });

  it('lets anyone call a public route', async () => {
    const { app } = await buildApp();
    expect((await app.inject({ method: 'POST', url: '/api/login' })).statusCode).toBe(200);
  });

  it('lets a request without a caller through when the route accepts its proof, and still holds a caller to the roles', async () => {
    const { app } = await buildApp();
    expect((await app.inject({ method: 'GET', url: '/api/links?signature=good' })).json()).toEqual({ caller: 'link' });
    expect((await app.inject({ method: 'GET', url: '/api/links?signature=bad' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/api/links?signature=good', headers: await as(['staff']) })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/api/links', headers: await as(['admin']) })).json()).toEqual({ caller: 'user-1' });
  });

  it('refuses to hand the caller to a route that declares no roles', async () => {
    const { app } = await buildApp();
    const response = await app.inject({ method: 'GET', url: '/api/undeclared', headers: await as(['admin']) });
    expect(response.statusCode).toBe(500);
  });

  it('writes the role line and the security of public routes into the OpenAPI document', async () => {
    const { app } = await buildApp();
    const paths = (app.swagger() as { paths: Record<string, Record<string, { description?: string; security?: unknown[] }>> }).paths;
    expect(paths['/api/things']!['get']!.description).toBe('Paged. Roles: admin, manager.');
    expect(paths['/api/things']!['get']!.security).toBeUndefined();
    expect(paths['/api/things']!['post']!.description).toBe('Roles: admin.');
    expect(paths['/api/login']!['post']!.description).toBe('Signs in. Public: no access token needed.');
    expect(paths['/api/login']!['post']!.security).toEqual([]);
    expect(roleLine(['staff'])).toBe('Roles: staff.');
  });

  it('refuses a route whose role list is empty', async () => {
    const app = await createServiceApp({ name: 'test', logger: silent });
    expect(() => app.get('/nobody', { config: { roles: [] } }, async () => ({}))).toThrow(/empty role list/);
  });
});

describe('paths', () => {
  it('serves a path with and without its trailing slash from one registration', async () => {
    const { app } = await buildApp();
    const headers = await as(['admin']);
    expect((await app.inject({ method: 'GET', url: '/api/things', headers })).statusCode).toBe(200);
    const slashed = await app.inject({ method: 'GET', url: '/api/things/?page=1', headers });
    expect(slashed.statusCode).toBe(200);
    expect(slashed.json()).toEqual({ caller: 'user-1' });
  });

  it('answers a wrong method on a known path with 405 and Allow, and an unknown path with 404', async () => {
    const { app } = await buildApp();
    const wrong = await app.inject({ method: 'PUT', url: '/api/things' });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, HEAD, POST');
    expect(wrong.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(wrong.json()).toMatchObject({ type: '/problems/method-not-allowed', status: 405, instance: '/api/things' });
    const withSlash = await app.inject({ method: 'PATCH', url: '/api/things/' });
    expect(withSlash.statusCode).toBe(405);
    const byId = await app.inject({ method: 'GET', url: '/api/things/8d4b9f4e-2a31-4c1e-9b7a-0f2d3c4e5f60' });
    expect(byId.statusCode).toBe(405);
    expect(byId.headers['allow']).toBe('DELETE');
    const unknown = await app.inject({ method: 'GET', url: '/api/things/a/b' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['allow']).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: '/api/nothing' })).statusCode).toBe(404);
  });
});
