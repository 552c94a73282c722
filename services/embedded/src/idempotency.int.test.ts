import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

// Idempotency-Key end to end on the embedded runtime: through the gateway to services on PGlite (ADR 0025).
describe('embedded platform: retried writes through the gateway', () => {
  let dataDir: string;
  let platform: RunningPlatform;
  let token: string;

  const api = async (method: string, path: string, body?: unknown, key?: string) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-access-token': `Bearer ${token}`, ...(key ? { 'idempotency-key': key } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
    const parsed = (await response.json()) as Record<string, any>;
    return { status: response.status, replayed: response.headers.get('idempotent-replayed'), body: parsed };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-idempotency-'));
    platform = await startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
    const credentials = { email: 'owner@retry.example', password: 'correct horse battery staple' };
    const signup = await fetch(`${platform.url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...credentials, firstname: 'Olive', lastname: 'Owner', organizationName: 'Retry Clinic' }),
    });
    expect(signup.status).toBe(200);
    const login = await fetch(`${platform.url}/api/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(credentials),
    });
    token = ((await login.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates once, replays the answer to a retry, and answers the key with another body 422', async () => {
    const key = randomUUID();
    const patient = { firstname: 'Pat', lastname: 'Retry' };
    const first = await api('POST', '/api/patients', patient, key);
    expect(first.status).toBe(200);
    expect(first.replayed).toBeNull();
    const again = await api('POST', '/api/patients', patient, key);
    expect([again.status, again.replayed]).toEqual([200, 'true']);
    expect(again.body).toEqual(first.body);
    const reused = await api('POST', '/api/patients', { ...patient, firstname: 'Other' }, key);
    expect(reused.status).toBe(422);
    expect(reused.body['errors']).toEqual([{ field: 'headers.idempotency-key', message: expect.any(String) }]);

    const provider = { firstname: 'Grace', lastname: 'Retry' };
    const created = await api('POST', '/api/providers', provider, key);
    // One key, two services: each keeps its own records, so scheduling runs it.
    expect([created.status, created.replayed]).toEqual([200, null]);
    expect((await api('POST', '/api/providers', provider, key)).body['_id']).toBe(created.body['_id']);
    const providers = await api('GET', '/api/providers?limit=100');
    expect(providers.body['response'].filter((listed: { lastname: string }) => listed.lastname === 'Retry')).toHaveLength(1);
  });

  it('documents the header on the writes of the merged OpenAPI document', async () => {
    const document = (await (await fetch(`${platform.url}/api/docs/json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string }> }>>;
    };
    for (const [path, method] of [
      ['/api/patients', 'post'],
      ['/api/appointments', 'post'],
      ['/api/messages', 'post'],
      ['/api/users/{id}', 'put'],
    ] as const) {
      const operation = document.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(
        operation!.parameters?.map((parameter) => parameter.name),
        `${method} ${path}`,
      ).toContain('Idempotency-Key');
    }
  });
});
