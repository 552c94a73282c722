import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@pep/testing';
import { describe, expect, it } from 'vitest';

const env = {
  NODE_ENV: 'production',
  INTERNAL_AUTH_SECRET: 's'.repeat(40),
  KAFKA_BROKERS: '127.0.0.1:1',
  UPSTREAMS: 'auth=http://127.0.0.1:1',
  PORT: '0',
};

/** Starts the built gateway with `env`; what it wrote so far, how it exited, and a way to stop it. */
function start(extra: Record<string, string>) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
    env: { PATH: process.env['PATH'] ?? '', ...env, ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { output: () => output, exited, kill: () => child.kill('SIGKILL') };
}

// The built gateway as production starts it.
describe('gateway process (dist/main.js)', () => {
  it('refuses to start in production without CORS_ORIGINS, naming it', async () => {
    const gateway = start({});
    const timer = setTimeout(gateway.kill, 30_000);
    expect(await gateway.exited).toBe(1);
    clearTimeout(timer);
    expect(gateway.output()).toContain('CORS_ORIGINS: set CORS_ORIGINS in production');
  });

  it('starts with CORS_ORIGINS=* only when set so, and warns about it', async () => {
    const gateway = start({ CORS_ORIGINS: '*' });
    try {
      await waitFor(() => gateway.output().includes('CORS_ORIGINS is *'), { timeoutMs: 30_000, message: 'the warning' });
      const line = gateway
        .output()
        .split('\n')
        .find((text) => text.includes('CORS_ORIGINS is *'))!;
      expect(JSON.parse(line)).toMatchObject({ level: 'warn' });
    } finally {
      gateway.kill();
      await gateway.exited;
    }
  });

  it('starts while Kafka does not answer, saying its topics were not verified', async () => {
    // Production verifies the topics it reads; a broker that is down says nothing about them (ADR 0024).
    const gateway = start({ CORS_ORIGINS: 'https://app.example.com' });
    let exited = false;
    void gateway.exited.then(() => (exited = true));
    try {
      await waitFor(() => exited || gateway.output().includes('Server listening'), { timeoutMs: 60_000, message: 'the gateway listens' });
      expect(exited).toBe(false);
      expect(gateway.output()).toContain('Kafka did not answer: topics not verified');
    } finally {
      gateway.kill();
      await gateway.exited;
    }
  });
});
