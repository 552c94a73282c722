import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, type RunningPlatform } from '@pep/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlatformClient, type PlatformClient, type Schema } from './index.js';

// The generated client against the running platform (embedded runtime, PGlite): what `tsc` accepts here is what the
// document promises, and the answers show the document and the API agree.
describe('the generated client', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let client: PlatformClient;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-client-test-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', clock: () => new Date() });
    const anonymous = createPlatformClient({ baseUrl: platform.url });
    const signup = await anonymous.POST('/api/users/signup', {
      body: {
        email: 'owner@client.example',
        password: 'correct horse battery staple',
        firstname: 'Cleo',
        lastname: 'Client',
        organizationName: 'Client Clinic',
      },
    });
    expect(signup.response.status).toBe(200);
    client = createPlatformClient({ baseUrl: platform.url, token: signup.data!.token });
  });
  afterAll(async () => {
    await platform?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('creates, reads and lists patients with named types', async () => {
    const created = await client.POST('/api/patients', { body: { firstname: 'Ada', lastname: 'Lovelace', phone: '(212) 555-0101' } });
    expect(created.response.status).toBe(200);
    const patient: Schema<'Patient'> = created.data!;
    expect(patient).toMatchObject({ firstname: 'Ada', lastname: 'Lovelace', phone: '+12125550101' });

    const read = await client.GET('/api/patients/{id}', { params: { path: { id: patient._id } } });
    expect(read.data?._id).toBe(patient._id);
    const list = await client.GET('/api/patients', { params: { query: { limit: 10 } } });
    expect(list.data?.response.map((each) => each._id)).toEqual([patient._id]);
  });

  it('answers problems as the typed error of the operation', async () => {
    const missing = await client.GET('/api/patients/{id}', { params: { path: { id: randomUUID() } } });
    expect(missing.response.status).toBe(404);
    const problem: Schema<'Problem'> | undefined = missing.error;
    expect(problem).toMatchObject({ type: '/problems/not-found', status: 404 });

    const invalid = await client.POST('/api/patients', { body: { firstname: 'Ada', lastname: 'Lovelace', phone: 'not a phone' } });
    expect(invalid.response.status).toBe(400);
    expect(invalid.error?.errors?.map((error) => error.field)).toContain('body.phone');

    const unauthenticated = await createPlatformClient({ baseUrl: platform.url }).GET('/api/patients');
    expect(unauthenticated.response.status).toBe(401);
    expect(unauthenticated.error?.title).toBe('Unauthorized');
  });
});
