import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

// The embedded runtime: the gateway follows auth's events on the in-process bus, as replicas do on Kafka.
describe('embedded platform: revoked tokens are refused at once, and still after a restart', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-embedded-revocation-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () => startPlatform({ dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent' });
  const apiOf = (platform: RunningPlatform) => async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const applied = async (platform: RunningPlatform, type: string) => {
    const text = await (await fetch(`${platform.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('gateway_revocation_events_total') && l.includes(`type="${type}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('refuses a deleted integrator client’s and a deleted organization’s tokens with 401, before and after a restart', async () => {
    let platform = await start();
    let api = apiOf(platform);
    let staffToken = '';
    let ownerToken = '';
    try {
      const owner = await api('POST', '/api/users/signup', {
        email: 'owner@revoked.example',
        password: 'correct horse battery staple',
        firstname: 'Olive',
        lastname: 'Owner',
        organizationName: 'Revoked Clinic',
      });
      expect(owner.status).toBe(200);
      ownerToken = owner.body['token'];
      const organization = owner.body['organization']._id as string;

      // An integrator client stands in for a second member: decommissioning it works like a user's.
      const client = await api('POST', '/api/integratorClients', { name: 'EHR sync' }, ownerToken);
      const clientLogin = await api('POST', '/api/integratorClients/login', {
        clientId: client.body['clientId'],
        clientSecret: client.body['clientSecret'],
      });
      staffToken = clientLogin.body['token'];
      expect((await api('POST', '/api/patients', { firstname: 'Ann', lastname: 'Before' }, staffToken)).status).toBe(200);
      expect((await api('DELETE', `/api/integratorClients/${client.body['_id']}`, undefined, ownerToken)).status).toBe(200);
      await waitFor(async () => (await applied(platform, 'integrator-client.deleted')) > 0, { timeoutMs: 15_000 });
      expect((await api('POST', '/api/patients', { firstname: 'Cid', lastname: 'Client' }, staffToken)).status).toBe(401);

      expect((await api('DELETE', `/api/organizations/${organization}`, undefined, ownerToken)).status).toBe(200);
      await waitFor(async () => (await applied(platform, 'organization.deleted')) > 0, { timeoutMs: 15_000 });
      const refused = await api('POST', '/api/patients', { firstname: 'Gina', lastname: 'Ghost' }, ownerToken);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ status: 401 });
    } finally {
      await platform.stop();
    }

    // A restarted gateway loads what was revoked from auth before it serves anyone.
    platform = await start();
    api = apiOf(platform);
    try {
      expect((await api('POST', '/api/patients', { firstname: 'Gina', lastname: 'Ghost' }, ownerToken)).status).toBe(401);
      expect((await api('GET', '/api/patients', undefined, staffToken)).status).toBe(401);
    } finally {
      await platform.stop();
    }
  });
});
