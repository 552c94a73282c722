import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, guardResources, startOtlpCollector, waitFor, type OtlpCollector } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The embedded runtime as `npm start` runs it (its built main, one process): tracing stays off unless an OTLP endpoint
// is configured, and then it is on like in any service.

/** Where the OTLP exporter sends when no endpoint is configured: an SDK started by mistake would call it. */
const SDK_DEFAULT_PORT = 4318;

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** Runs the embedded platform, makes a few requests and stops it; answers what it printed. */
async function runPlatform(env: Record<string, string>): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pep-embedded-tracing-'));
  const port = await freePort();
  const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const guard = guardResources(undefined);
  guard.watch(child);
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/api/status`).catch(() => null))?.status === 200, {
      timeoutMs: 90_000,
      intervalMs: 250,
      message: 'the embedded platform answers',
    });
    const signup = await fetch(`${url}/api/users/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'ops@embedded.example',
        password: 'embedded passphrase',
        firstname: 'Em',
        lastname: 'Bedded',
        organizationName: 'Embedded Clinic',
      }),
    });
    expect(signup.status).toBe(200);
    // Longer than the export delay the runs below set, so a running SDK would have sent by now.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  } finally {
    child.kill('SIGTERM');
    await exited;
    guard.release();
    await rm(dataDir, { recursive: true, force: true });
  }
  return output;
}

const logLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('tracing in the embedded runtime', () => {
  let collector: OtlpCollector;
  let defaultCollector: OtlpCollector | null = null;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    if (await portFree(SDK_DEFAULT_PORT)) defaultCollector = await startOtlpCollector({ port: SDK_DEFAULT_PORT });
  });
  afterAll(async () => {
    await collector?.close();
    await defaultCollector?.close();
  });

  it('is off by default: no SDK starts, no collector is called, no log line names a trace', async () => {
    // The other standard variables alone do not switch it on.
    const output = await runPlatform({
      OTEL_SERVICE_NAME: 'embedded-test',
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const requestLines = logLines(output).filter((line) => line['msg'] === 'request completed');
    expect(requestLines.length).toBeGreaterThan(0);
    expect(requestLines.filter((line) => 'trace_id' in line)).toEqual([]);
    expect(collector.requests).toBe(0);
    if (defaultCollector) expect(defaultCollector.requests).toBe(0);
  });

  it('exports its spans when an OTLP endpoint is configured', async () => {
    const output = await runPlatform({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
    await waitFor(() => collector.spans.some((span) => span.name === 'POST /api/users/*'), {
      timeoutMs: 10_000,
      message: 'the signup’s server span reaches the collector',
    });
    expect(new Set(collector.spans.map((span) => span.service))).toEqual(new Set(['platform']));
    const signup = collector.spans.find((span) => span.name === 'POST /api/users/*')!;
    // Its request line names the same trace.
    expect(logLines(output).some((line) => line['trace_id'] === signup.traceId)).toBe(true);
  });
});
