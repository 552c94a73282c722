import net from 'node:net';
import { createTestDatabase, freePort, kafkaBrokers, uniqueTopicPrefix, waitFor, type TestDatabase } from '@pep/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

interface Readiness {
  status: string;
  checks: Record<string, string>;
  consumers?: Record<string, string>;
}

// A service started while no broker can be reached serves HTTP from the start, says so in its readiness details and
// metrics, and joins its consumer groups once the broker can be reached. The broker "comes" as a TCP proxy to the real
// one that starts listening only later.
describe('distributed platform: a service started while the broker is unreachable', () => {
  let database: TestDatabase | undefined;
  let proxy: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let patients: ServiceProcess;

  afterAll(async () => {
    await patients?.stop();
    await stopAll();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await database?.drop();
  });

  const readiness = async (): Promise<{ code: number; body: Readiness }> => {
    const response = await fetch(`${patients.url}/health/ready`);
    return { code: response.status, body: (await response.json()) as Readiness };
  };

  it(
    'serves HTTP and reports the broker and its consumers down, then joins once the broker is reachable',
    { timeout: 180_000 },
    async () => {
      const [brokerHost, brokerPort] = (await kafkaBrokers())[0]!.split(':') as [string, string];
      const proxyPort = await freePort();
      database = await createTestDatabase('e2e-broker-unreachable');
      patients = await startService(
        'patients',
        {
          KAFKA_BROKERS: `127.0.0.1:${proxyPort}`,
          TOPIC_PREFIX: uniqueTopicPrefix('e2e-nobroker'),
          INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh',
          DATABASE_URL: database.url,
        },
        { until: 'ready' },
      );

      expect((await fetch(`${patients.url}/health/live`)).status).toBe(200);
      const down = await readiness();
      expect(down.code).toBe(200);
      expect(down.body).toEqual({
        status: 'degraded',
        checks: { database: 'ok', broker: 'failing' },
        consumers: {
          'patients.journey': 'joining',
          'patients.organization-access': 'joining',
          'patients.referral-settings': 'joining',
          'patients.referrals': 'joining',
        },
      });
      const metrics = await (await fetch(`${patients.url}/metrics`)).text();
      expect(metrics).toMatch(/^bus_consumer_joined\{[^}]*group="patients\.journey"[^}]*\} 0$/m);
      expect(metrics).toMatch(/^health_check_up\{[^}]*check="broker"[^}]*\} 0$/m);
      // Its routes answer: without the gateway's signed identity, a list is refused as unauthenticated, not unavailable.
      const list = await fetch(`${patients.url}/api/patients`);
      expect(list.status).toBe(401);
      expect(patients.output()).not.toContain('timed out');

      proxy = net.createServer((client) => {
        const upstream = net.connect(Number(brokerPort), brokerHost);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => socket.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        proxy!.once('error', reject);
        proxy!.listen(proxyPort, '127.0.0.1', () => resolve());
      });
      const up = await waitFor(
        async () => {
          const answer = await readiness();
          return answer.body.status === 'ok' ? answer : null;
        },
        { timeoutMs: 90_000, intervalMs: 500, message: 'the broker and both consumer groups reported up' },
      );
      expect(up.body).toEqual({
        status: 'ok',
        checks: { database: 'ok', broker: 'ok' },
        consumers: {
          'patients.journey': 'joined',
          'patients.organization-access': 'joined',
          'patients.referral-settings': 'joined',
          'patients.referrals': 'joined',
        },
      });

      expect(await patients.stop()).toBe(0);
    },
  );
});
