import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, signIdentity } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';

const logger = createLogger({ service: 'platform-test', level: 'silent' });

describe('embedded platform', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-embedded-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const start = () => startPlatform({ dataDir, host: '127.0.0.1', port: 0, logger });
  const status = async (platform: RunningPlatform) =>
    (await (await fetch(`${platform.url}/api/status`)).json()) as { status: string; services: Array<Record<string, unknown>> };

  it('starts every service behind the gateway and reports their health', async () => {
    const platform = await start();
    try {
      const body = await status(platform);
      expect(body.status).toBe('ok');
      expect(body.services).toContainEqual(expect.objectContaining({ name: 'patients', status: 'ok', checks: { database: 'ok', broker: 'ok' } }));
      expect(body.services).toContainEqual({ name: 'gateway', status: 'ok' });
      const scheduling = await fetch(`${platform.url}/api/appointments`);
      expect(scheduling.status).toBe(501);
      expect(scheduling.headers.get('content-type')).toMatch(/problem\+json/);
      const unauthenticated = await fetch(`${platform.url}/api/patients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-internal-identity': 'forged' },
        body: JSON.stringify({ firstname: 'A', lastname: 'B' }),
      });
      expect(unauthenticated.status).toBe(401);
    } finally {
      await platform.stop();
    }
  });

  it('keeps its data in the data folder across restarts', async () => {
    expect((await readdir(dataDir)).sort()).toEqual(expect.arrayContaining(['bus', 'internal-auth-secret', 'patients']));
    const secret = (await readFile(join(dataDir, 'internal-auth-secret'), 'utf8')).trim();
    const headers = {
      'content-type': 'application/json',
      'x-internal-identity': await signIdentity(secret, { organization: '0b5d3d1e-7c1a-4c8e-9a55-3d2b8f1e0c11', user: 'u', roles: ['staff'] }),
    };
    const journey = async (platform: RunningPlatform, id: string) =>
      ((await (await fetch(`${platform.services['patients']}/api/patients/${id}/journey`, { headers })).json()) as { response: unknown[] }).response;

    const first = await start();
    let id: string;
    try {
      const created = await fetch(`${first.services['patients']}/api/patients`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ firstname: 'Kept', lastname: 'Across' }),
      });
      expect(created.status).toBe(200);
      id = ((await created.json()) as { _id: string })._id;
      await waitFor(async () => (await journey(first, id)).length === 1, { timeoutMs: 15_000, message: 'event consumed in-process' });
    } finally {
      await first.stop();
    }

    const second = await start();
    try {
      const fetched = await fetch(`${second.services['patients']}/api/patients/${id}`, { headers });
      expect(fetched.status).toBe(200);
      expect(await fetched.json()).toMatchObject({ firstname: 'Kept' });
      // After the restart the event is not applied again (committed offsets, and the inbox behind them).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await journey(second, id)).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});
