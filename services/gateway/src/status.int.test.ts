import { KafkaBus, type Subscription } from '@pep/bus';
import { createLogger, createServiceApp, type ServiceApp } from '@pep/service-kit';
import { freePort, kafkaBrokers, uniqueTopicPrefix } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';

const logger = createLogger({ service: 'gateway-test', level: 'silent' });
const SECRET = 't'.repeat(40);

interface Status {
  status: string;
  services: Array<{ name: string; status: string; reason?: string; checks?: Record<string, string>; consumers?: Record<string, string> }>;
}

describe('gateway: /api/status reports a service whose broker or consumers are down as degraded, not ok', () => {
  const buses: KafkaBus[] = [];
  const subscriptions: Subscription[] = [];
  const services: ServiceApp[] = [];
  let gateway: ServiceApp;
  let joinedGroup: string;
  let patientsUrl: string;

  /** A service built as every service is: ready with its required checks, reporting its broker and consumer group (ADR 0024). */
  const startService = async (name: string, brokers: string[], groupId: string) => {
    const bus = new KafkaBus({
      brokers,
      clientId: `status-${name}`,
      topicPrefix: uniqueTopicPrefix('status'),
      logger,
      connectionTimeoutMs: 500,
      healthTimeoutMs: 1_000,
    });
    buses.push(bus);
    const subscription = await bus.subscribe({ groupId, topics: ['status.things'], handler: async () => undefined });
    subscriptions.push(subscription);
    const app = await createServiceApp({
      name,
      logger,
      readiness: { database: async () => true },
      reportOnly: { broker: () => bus.healthy() },
      consumers: () => [subscription],
    });
    services.push(app);
    return { url: await app.listen({ host: '127.0.0.1', port: 0 }), subscription };
  };

  beforeAll(async () => {
    // Nothing listens on this port: the broker is down for this service, so its group keeps joining.
    const down = await startService('scheduling', [`127.0.0.1:${await freePort()}`], 'scheduling.status-test');
    joinedGroup = `patients.status-test-${crypto.randomUUID()}`;
    const up = await startService('patients', await kafkaBrokers(), joinedGroup);
    await up.subscription.joined;
    patientsUrl = up.url;
    expect(down.subscription.state()).toBe('joining');
    gateway = await buildApp({ logger, upstreams: { scheduling: down.url, patients: up.url }, internalAuthSecret: SECRET });
    await gateway.ready();
  });
  afterAll(async () => {
    await gateway?.close();
    for (const service of services) await service.close();
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    await Promise.all(buses.map((bus) => bus.close()));
  });

  it('names the degraded service and why, keeps the joined one ok, and the platform not ok, while the gateway stays ready', async () => {
    const response = await gateway.inject({ url: '/api/status' });
    expect(response.statusCode).toBe(200);
    const body = response.json() as Status;
    const byName = Object.fromEntries(body.services.map((service) => [service.name, service]));
    expect(byName['scheduling']).toMatchObject({
      status: 'degraded',
      reason: 'broker failing; not joined: scheduling.status-test',
      checks: { database: 'ok', broker: 'failing' },
      consumers: { 'scheduling.status-test': 'joining' },
    });
    expect(byName['patients']).toMatchObject({
      status: 'ok',
      checks: { database: 'ok', broker: 'ok' },
      consumers: { [joinedGroup]: 'joined' },
    });
    expect(byName['patients']!.reason).toBeUndefined();
    expect(byName['gateway']).toEqual({ name: 'gateway', status: 'ok' });
    expect(byName['messaging']).toEqual({ name: 'messaging', status: 'not-deployed' });
    expect(body.status).toBe('degraded');
    expect((await gateway.inject({ url: '/api/status/services/scheduling' })).json()).toMatchObject({
      name: 'scheduling',
      status: 'degraded',
    });

    // A degraded service is the platform's trouble, not the gateway's: it keeps taking traffic.
    const ready = await gateway.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ok' });
  });

  it('reports the platform ok once every deployed service is', async () => {
    const patientsOnly = await buildApp({ logger, upstreams: { patients: patientsUrl }, internalAuthSecret: SECRET });
    try {
      const body = (await patientsOnly.inject({ url: '/api/status' })).json() as Status;
      expect(body.services.filter((service) => service.status !== 'not-deployed').map((service) => [service.name, service.status])).toEqual(
        [
          ['gateway', 'ok'],
          ['patients', 'ok'],
        ],
      );
      expect(body.status).toBe('ok');
    } finally {
      await patientsOnly.close();
    }
  });

  it('reports a service that does not answer as unavailable, saying so', async () => {
    const gone = await buildApp({ logger, upstreams: { billing: `http://127.0.0.1:${await freePort()}` }, internalAuthSecret: SECRET });
    try {
      const body = (await gone.inject({ url: '/api/status' })).json() as Status;
      expect(body.services.find((service) => service.name === 'billing')).toMatchObject({ status: 'unavailable', reason: 'not answering' });
      expect(body.status).toBe('degraded');
    } finally {
      await gone.close();
    }
  });
});
