import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KafkaBus } from '@pep/bus';
import { baseConfigSchema, declaredTopicSpecs } from '@pep/service-kit';
import { createTestDatabase, freePort, kafkaBrokers, uniqueTopicPrefix, waitFor, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, orgA, SECRET } from '../test/harness.js';
import { topics } from './topics.js';

// The built service as production runs it: its own process, real Postgres and Kafka, stopped by SIGTERM.
describe('patients process (dist/main.js)', () => {
  let database: TestDatabase;
  let child: ChildProcess;
  let output = '';
  let url: string;
  let metricsUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase('patients-main');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const brokers = await kafkaBrokers();
    const shared = {
      PATH: process.env['PATH'],
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: uniqueTopicPrefix('patients-main'),
    };
    // A release runs every service's migration Job before any service starts: the topics patients reads, which the
    // other services' Jobs declare, are made here as theirs would make them.
    const settings = baseConfigSchema.parse({});
    const owned = new Set(declaredTopicSpecs(topics, settings, 'owned').map((spec) => spec.topic));
    const others = new KafkaBus({ brokers, clientId: 'other-jobs', topicPrefix: shared.TOPIC_PREFIX });
    try {
      await others.provisionTopics(declaredTopicSpecs(topics, settings, 'all').filter((spec) => !owned.has(spec.topic)));
    } finally {
      await others.close();
    }
    // Then its own Job: the database, then the Kafka topics it owns (published and dead-letter), which it verifies at start.
    const job = spawn(process.execPath, [fileURLToPath(new URL('../dist/migrate.js', import.meta.url))], {
      env: shared,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let jobOutput = '';
    job.stdout!.on('data', (chunk) => (jobOutput += chunk));
    job.stderr!.on('data', (chunk) => (jobOutput += chunk));
    const jobExit = await new Promise<number | null>((resolve) => job.once('exit', (code) => resolve(code)));
    expect(jobExit, jobOutput).toBe(0);
    child = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
      env: {
        ...shared,
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        INTERNAL_AUTH_SECRET: SECRET,
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    await waitFor(async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200, {
      timeoutMs: 60_000,
      message: 'the service becomes ready',
    });
  });
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await database?.drop();
  });

  it('after its migration Job, starts with its topics verified, serves, logs without PHI and stops cleanly on SIGTERM', async () => {
    const response = await fetch(`${url}/api/patients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await as(orgA)) },
      body: JSON.stringify({ firstname: 'Zebedee', lastname: 'Quixotic', phone: '+1 415 555 2671', email: 'zq@example.com' }),
    });
    expect(response.status).toBe(200);
    // Metrics on their own port only: the main port is the one a Service or an ingress exposes.
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    const metrics = await fetch(`${metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^outbox_pending_events\{service="patients"\} \d+$/m);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // Shutdown closed both listeners.
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
    await expect(fetch(`${metricsUrl}/metrics`)).rejects.toThrow();
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toContain('topics not verified');
    for (const phi of ['Zebedee', 'Quixotic', '4155552671', 'zq@example.com']) expect(output).not.toContain(phi);
    for (const line of output.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
