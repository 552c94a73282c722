import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPlatformClient } from '@pep/client';
import { createTestDatabase, kafkaBrokers, uniqueTopicPrefix, waitFor, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

// Revocation across the distributed runtime: auth and patients in their own processes behind TWO gateway replicas, on
// real Postgres and Kafka. Each replica follows auth's events in its own consumer group; once an event has reached both,
// the very next request with a revoked token answers 401 on both.
describe('distributed platform: revocation takes effect at once on every gateway replica', () => {
  const databases: TestDatabase[] = [];
  const services: ServiceProcess[] = [];
  let gateways: ServiceProcess[] = [];
  let mailDir: string;

  beforeAll(async () => {
    const common = {
      KAFKA_BROKERS: (await kafkaBrokers()).join(','),
      TOPIC_PREFIX: uniqueTopicPrefix('e2e-revocation'),
      INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh',
    };
    mailDir = await mkdtemp(join(tmpdir(), 'pep-e2e-revocation-mail-'));
    const database = async (label: string) => {
      const created = await createTestDatabase(label);
      databases.push(created);
      return created.url;
    };
    const [auth, patients] = await Promise.all([
      startService('auth', {
        ...common,
        DATABASE_URL: await database('e2e-rev-auth'),
        SIGNING_KEY_SECRET: 'e2e-signing-key-secret-0123456789abcdef',
        PUBLIC_URL: 'http://localhost:3000',
        MAIL_DIR: mailDir,
        // Scheduling is not deployed here; nothing in this test asks auth about providers or facilities.
        SCHEDULING_URL: 'http://127.0.0.1:1',
      }),
      startService('patients', { ...common, DATABASE_URL: await database('e2e-rev-patients') }),
    ]);
    services.push(auth!, patients!);
    const gatewayEnv = { ...common, UPSTREAMS: `auth=${auth!.url},patients=${patients!.url}`, RATE_LIMIT_PER_MINUTE: '100000' };
    gateways = await Promise.all([
      startService('gateway', { ...gatewayEnv, GATEWAY_REPLICA_ID: 'one' }),
      startService('gateway', { ...gatewayEnv, GATEWAY_REPLICA_ID: 'two' }),
    ]);
    services.push(...gateways);
  }, 180_000);

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    // Also those a failed start or test left running.
    await stopAll();
    for (const database of databases) await database.drop();
    if (mailDir) await rm(mailDir, { recursive: true, force: true });
  });

  /** The typed client of one replica, sending the token in `x-access-token`, the v1 header some integrators use. */
  const api = (gateway: ServiceProcess, token?: string) =>
    createPlatformClient({ baseUrl: gateway.url, ...(token ? { headers: { 'x-access-token': `Bearer ${token}` } } : {}) });
  const ok = <T>(answer: { data?: T; error?: unknown; response: Response }): T => {
    expect(answer.response.status, JSON.stringify(answer.error)).toBe(200);
    return answer.data!;
  };
  /** How many events of a type a replica has applied to its revocation list (its Prometheus counter). */
  const applied = async (gateway: ServiceProcess, type: string) => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('gateway_revocation_events_total') && l.includes(`type="${type}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  /** Runs `change` through the first gateway and waits until the event it causes has reached every replica. */
  const revokeAndAwaitDelivery = async (type: string, change: () => Promise<{ response: Response }>) => {
    const before = await Promise.all(gateways.map((gateway) => applied(gateway, type)));
    expect((await change()).response.status).toBe(200);
    await waitFor(
      async () => (await Promise.all(gateways.map((gateway) => applied(gateway, type)))).every((count, i) => count > before[i]!),
      {
        timeoutMs: 30_000,
        message: `${type} reaches both gateway replicas`,
      },
    );
  };
  let counter = 0;
  const signup = async () => {
    counter += 1;
    const email = `owner-${counter}-${Date.now()}@revocation.example`;
    const answer = ok(
      await api(gateways[0]!).POST('/api/users/signup', {
        body: {
          email,
          password: 'revocation passphrase',
          firstname: 'Rita',
          lastname: 'Revoked',
          organizationName: `Revoked Clinic ${counter}`,
        },
      }),
    );
    return { email, token: answer.token, organization: answer.organization._id };
  };
  const expectRefused = ({ response }: { response: Response }) => {
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
  };

  it('both replicas load the revocation feed and say so', async () => {
    for (const gateway of gateways) {
      const ready = (await (await fetch(`${gateway.url}/health/ready`)).json()) as { checks: Record<string, string> };
      expect(ready.checks).toMatchObject({ revocations: 'ok' });
      expect(await (await fetch(`${gateway.url}/metrics`)).text()).toMatch(/gateway_revocation_feed_up\{[^}]*\} 1/);
    }
  });

  it('a deleted organization: the next POST /api/patients and the next read answer 401 on both replicas', async () => {
    const owner = await signup();
    const patient = ok(await api(gateways[1]!, owner.token).POST('/api/patients', { body: { firstname: 'Pat', lastname: 'Before' } }));
    await revokeAndAwaitDelivery('organization.deleted', () =>
      api(gateways[0]!, owner.token).DELETE('/api/organizations/{id}', { params: { path: { id: owner.organization } } }),
    );
    for (const gateway of gateways) {
      expectRefused(await api(gateway, owner.token).POST('/api/patients', { body: { firstname: 'Gina', lastname: 'Ghost' } }));
      expectRefused(await api(gateway, owner.token).GET('/api/patients/{id}', { params: { path: { id: patient._id } } }));
    }
    // Nor can its people sign in to it again for a fresh token.
    const login = await api(gateways[0]!).POST('/api/users/login', { body: { email: owner.email, password: 'revocation passphrase' } });
    expect(login.response.status).toBe(401);
  });

  it('a deactivated integrator client: its token answers 401 on both replicas', async () => {
    const owner = await signup();
    const client = ok(await api(gateways[0]!, owner.token).POST('/api/integratorClients', { body: { name: 'EHR sync' } }));
    const login = ok(
      await api(gateways[1]!).POST('/api/integratorClients/login', {
        body: { clientId: client.clientId, clientSecret: client.clientSecret },
      }),
    );
    const clientToken = login.token;
    ok(await api(gateways[1]!, clientToken).GET('/api/patients'));
    await revokeAndAwaitDelivery('integrator-client.updated', () =>
      api(gateways[0]!, owner.token).PUT('/api/integratorClients/{id}', { params: { path: { id: client._id } }, body: { active: false } }),
    );
    for (const gateway of gateways) expectRefused(await api(gateway, clientToken).GET('/api/patients'));
  });

  it('a changed password: the old token answers 401 on both replicas, the token of the next login works on both', async () => {
    const owner = await signup();
    ok(await api(gateways[0]!).POST('/api/users/forgot-password', { body: { email: owner.email } }));
    const link = await waitFor(
      async () => {
        for (const name of (await readdir(mailDir)).filter((file) => file.endsWith('.eml'))) {
          // Quoted-printable soft line breaks may split the link.
          const text = (await readFile(join(mailDir, name), 'utf8')).replace(/=\r?\n/g, '').replace(/=3D/g, '=');
          if (!text.includes(owner.email)) continue;
          const match = /\/reset-password\/([\w-]{20,})/.exec(text);
          if (match) return match[1];
        }
        return undefined;
      },
      { timeoutMs: 15_000, message: 'the reset mail' },
    );
    await revokeAndAwaitDelivery('user.password-changed', () =>
      api(gateways[0]!).POST('/api/users/reset-password/{token}', {
        params: { path: { token: link! } },
        body: { password: 'a new revocation passphrase' },
      }),
    );
    for (const gateway of gateways) expectRefused(await api(gateway, owner.token).GET('/api/patients'));
    const again = ok(
      await api(gateways[1]!).POST('/api/users/login', { body: { email: owner.email, password: 'a new revocation passphrase' } }),
    );
    for (const gateway of gateways) ok(await api(gateway, again.token).GET('/api/patients'));
  });
});
