import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, LocalKafkaBroker, uniqueTopicPrefix, waitFor, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

// A managed cluster as a platform team runs it: the services reach Kafka only through a SASL_SSL listener (TLS with the
// cluster's CA, SCRAM-SHA-512), topics are declared by the migration Jobs, and the services only verify them.
const DATA_SERVICES = ['auth', 'patients', 'scheduling', 'messaging', 'billing'] as const;

/**
 * Runs `services/<service>/dist/<entry>.js` (the migration Job's `migrate`, or `main` when it is expected to refuse to
 * start) to its end and resolves with its exit code and output.
 */
function runToExit(
  service: string,
  script: 'migrate' | 'main',
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const entry = fileURLToPath(new URL(`../../../services/${service}/dist/${script}.js`, import.meta.url));
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('the platform on a SASL_SSL-only Kafka with declared topics', () => {
  let broker: LocalKafkaBroker;
  const databases: Record<string, TestDatabase> = {};
  const services: ServiceProcess[] = [];
  let kafka: Record<string, string>;
  let gateway: ServiceProcess;

  beforeAll(async () => {
    broker = await LocalKafkaBroker.start({ saslSsl: true });
    const listener = broker.saslSsl!;
    kafka = {
      // Only the SASL_SSL listener: nothing here could fall back to the broker's PLAINTEXT port.
      KAFKA_BROKERS: listener.brokers.join(','),
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: listener.caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: listener.username,
      KAFKA_SASL_PASSWORD: listener.password,
      KAFKA_TOPICS: 'verify',
      KAFKA_TOPIC_PARTITIONS: '2',
      TOPIC_PREFIX: uniqueTopicPrefix('e2e-sasl'),
    };
    for (const service of DATA_SERVICES) databases[service] = await createTestDatabase(`e2e-sasl-${service}`);
  }, 180_000);

  afterAll(async () => {
    for (const service of services.reverse()) await service.stop();
    await stopAll();
    for (const database of Object.values(databases)) await database.drop();
    await broker?.destroy();
  });

  it('refuses to start a service whose topics were never declared, naming them', async () => {
    const { code, output } = await runToExit('patients', 'main', {
      ...kafka,
      DATABASE_URL: databases['patients']!.url,
      INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh',
    });
    expect(code, output.slice(-2_000)).toBe(1);
    expect(output).toContain(`${kafka['TOPIC_PREFIX']}patients.patient: missing`);
    expect(output).toContain('run the migration Job');
    // The password reached the broker only, never the log.
    expect(output).not.toContain(kafka['KAFKA_SASL_PASSWORD']);
  }, 120_000);

  it('declares every topic with the migration Jobs, twice without harm', async () => {
    for (const round of [1, 2]) {
      const jobs = await Promise.all(
        DATA_SERVICES.map((service) => runToExit(service, 'migrate', { ...kafka, DATABASE_URL: databases[service]!.url })),
      );
      jobs.forEach((job, i) => expect(job.code, `${DATA_SERVICES[i]} migration Job, round ${round}:\n${job.output.slice(-2_000)}`).toBe(0));
      for (const job of jobs) expect(job.output).not.toContain(kafka['KAFKA_SASL_PASSWORD']);
    }
  }, 180_000);

  it('starts the services in verify mode and carries events between them over SASL_SSL', async () => {
    const secret = { INTERNAL_AUTH_SECRET: 'e2e-internal-secret-0123456789abcdefgh' };
    const [authPort, patientsPort, schedulingPort, gatewayPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const url = (port: number) => `http://127.0.0.1:${port}`;
    const started = await Promise.all([
      startService(
        'auth',
        {
          ...kafka,
          ...secret,
          DATABASE_URL: databases['auth']!.url,
          SIGNING_KEY_SECRET: 'e2e-signing-key-secret-0123456789abcdef',
          PUBLIC_URL: 'http://localhost:3000',
          MAIL_DIR: broker.dataDir,
          SCHEDULING_URL: url(schedulingPort),
          GATEWAY_URL: url(gatewayPort),
        },
        { port: authPort },
      ),
      startService('patients', { ...kafka, ...secret, DATABASE_URL: databases['patients']!.url }, { port: patientsPort }),
      startService(
        'scheduling',
        { ...kafka, ...secret, DATABASE_URL: databases['scheduling']!.url, PATIENTS_URL: url(patientsPort), AUTH_URL: url(authPort) },
        { port: schedulingPort },
      ),
    ]);
    services.push(...started);
    gateway = await startService(
      'gateway',
      { ...kafka, ...secret, UPSTREAMS: `auth=${url(authPort)},patients=${url(patientsPort)},scheduling=${url(schedulingPort)}` },
      { port: gatewayPort },
    );
    services.push(gateway);

    const api = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${gateway.url}${path}`, {
        method,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { 'x-access-token': `Bearer ${token}` } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };

    const signup = await api('POST', '/api/users/signup', {
      email: 'lead@sasl.example',
      password: 'sasl ssl passphrase',
      firstname: 'Sasha',
      lastname: 'Secure',
      organizationName: 'Secure Clinic',
    });
    expect(signup.status, JSON.stringify(signup.body)).toBe(200);
    const token = signup.body['token'] as string;
    const patient = await api('POST', '/api/patients', { firstname: 'Tilly', lastname: 'Tls' }, token);
    expect(patient.status, JSON.stringify(patient.body)).toBe(200);
    const id = patient.body['_id'] as string;

    // Scheduling learns of the organization (auth.organization) and the patient (patients.patient) through Kafka; the
    // booking's appointment.created goes back through Kafka into the patient's journey in patients.
    const provider = await api('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' }, token);
    const facility = await api('POST', '/api/facilities', { name: 'Main Street', timeZone: 'America/New_York' }, token);
    const type = await api('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 }, token);
    expect([provider.status, facility.status, type.status]).toEqual([200, 200, 200]);
    const booking = await api(
      'POST',
      '/api/appointments',
      {
        patient: id,
        provider: provider.body['_id'],
        facility: facility.body['_id'],
        type: type.body['_id'],
        date: '2030-03-10T14:00:00.000Z',
      },
      token,
    );
    expect(booking.status, JSON.stringify(booking.body)).toBe(200);
    await waitFor(
      async () =>
        ((await api('GET', `/api/patients/${id}/journey`, undefined, token)).body['response'] as Array<{ type: string }>).some(
          (entry) => entry.type === 'appointment.created',
        ),
      { timeoutMs: 60_000, message: 'appointment.created to travel from scheduling to patients over SASL_SSL' },
    );
    for (const service of services) expect(service.output()).not.toContain(kafka['KAFKA_SASL_PASSWORD']);
  }, 240_000);
});
