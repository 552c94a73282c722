import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** Runs the built service with `env` until it exits by itself; its exit code and what it wrote. */
function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

// The built service as production starts it; the configuration is refused before any connection is opened.
describe('messaging process (dist/main.js)', () => {
  it('refuses to start in production without an SMS vendor, naming what to set', async () => {
    const { code, output } = await run({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://messaging@127.0.0.1:1/messaging',
      INTERNAL_AUTH_SECRET: 'i'.repeat(40),
      SMTP_URL: 'smtp://127.0.0.1:1',
      PATIENTS_URL: 'http://127.0.0.1:1',
      SCHEDULING_URL: 'http://127.0.0.1:1',
    });
    expect(code).toBe(1);
    expect(output).toContain('no SMS vendor in production: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM, or SMS_SINK=true');
  });
});
