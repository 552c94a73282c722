import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type RunningPlatform } from './platform.js';
import { CLOCK_FILE, PLATFORM_FILE } from './sandbox.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HOUR = 3_600_000;

/** A port nobody listens on now: the platform is started on it, as a developer would with PORT=3077. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs one of the developer's scripts (npm run reply / npm run sandbox) as a separate process, with only the given settings. */
function script(name: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const { PLATFORM_URL: _url, PUBLIC_URL: _public, DATA_DIR: _data, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', name), ...args],
      { cwd: ROOT, env: { ...inherited, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked by the assertions
type Body = Record<string, any>;

// What a newcomer following the README meets on a laptop, on a port other than 3000 and at any hour: the scripts find
// the platform, the sandbox clock gets round quiet hours, the reset link opens a page.
describe('embedded platform: a newcomer’s first hour', () => {
  let dataDir: string;
  let port: number;
  let platform: RunningPlatform;
  let token = '';
  let booked = { patient: '', appointment: '' };
  const start = () => startPlatform({ dataDir, host: '127.0.0.1', port, logLevel: 'silent' });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pep-newcomer-'));
    port = await freePort();
    platform = await start();
  });
  afterAll(async () => {
    await platform?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${platform.url}${path}`, {
      method,
      headers: { 'x-access-token': `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const ok = async (method: string, path: string, body?: unknown) => {
    const response = await api(method, path, body);
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
    return response.body;
  };
  const outbound = async (patient: string, key: string): Promise<Body[]> => {
    const listed = await ok('GET', `/api/messages?patient=${patient}&limit=100`);
    // A patient's messages are a bare array in v1; other lists wrap theirs in `response`.
    const messages = (Array.isArray(listed) ? listed : listed['response']) as Body[];
    return messages.filter((message) => message['type'] === 'outbound' && message['key'] === key);
  };

  it('writes where it listens to the data folder for the scripts, and takes it away on stop', async () => {
    const written = JSON.parse(await readFile(join(dataDir, PLATFORM_FILE), 'utf8')) as Body;
    expect(written).toMatchObject({ url: platform.url, publicUrl: `http://localhost:${port}` });
    expect(platform.url).toBe(`http://127.0.0.1:${port}`);
  });

  it(
    'moves scheduling’s and messaging’s clock forward with npm run sandbox, sending the reminder quiet hours held, while tokens stay valid',
    { timeout: 120_000 },
    async () => {
      const signup = await api('POST', '/api/users/signup', {
        email: 'new@clinic.example',
        password: 'a long passphrase',
        firstname: 'Ada',
        lastname: 'Admin',
        organizationName: 'My Clinic',
      });
      expect(signup.status).toBe(200);
      token = signup.body['token'];
      const provider = await ok('POST', '/api/providers', { firstname: 'Grace', lastname: 'Hopper' });
      const facility = await ok('POST', '/api/facilities', { name: 'Main Street', timeZone: 'America/New_York' });
      const type = await ok('POST', '/api/appointmentTypes', { name: 'Check-up', duration: 30 });
      const patient = await ok('POST', '/api/patients', { firstname: 'Pat', lastname: 'Jones', phone: '(415) 555-2671' });

      // The booking time comes from the platform's clock, as the README takes it.
      const time = await script('sandbox.mjs', ['time', '+72h'], { DATA_DIR: dataDir });
      expect(time, time.stderr).toMatchObject({ code: 0 });
      const when = time.stdout.trim();
      expect(Math.abs(Date.parse(when) - (Date.now() + 72 * HOUR))).toBeLessThan(60_000);
      const appointment = await ok('POST', '/api/appointments', {
        patient: patient['_id'],
        provider: provider['_id'],
        facility: facility['_id'],
        type: type['_id'],
        date: when,
      });
      const planned = await waitFor(
        async () => {
          const list = (await ok('GET', `/api/reminders/findByApptId/${appointment['_id']}`))['response'] as Body[];
          return list.length > 0 ? list : null;
        },
        { timeoutMs: 20_000, message: 'reminders planned' },
      );
      // Only the 48-hour reminder is still ahead (the others fell in the past): a day from now, moved out of quiet hours,
      // so at most 36 hours ahead.
      const ahead = planned.filter((reminder) => reminder['status'] === 'scheduled');
      expect(ahead.map((reminder) => reminder['offsetHours'])).toEqual([48]);
      expect(Date.parse(ahead[0]!['sendAt'])).toBeGreaterThan(Date.now() + 23 * HOUR);
      booked = { patient: patient['_id'], appointment: appointment['_id'] };
      expect(await outbound(patient['_id'], 'reminder')).toEqual([]);

      // Changing the clock takes the token from the data folder; a duration it cannot read is named.
      const unsigned = await fetch(`${platform.url}/sandbox/clock`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"advance":"14h"}',
      });
      expect(unsigned.status).toBe(403);
      expect(((await unsigned.json()) as Body)['detail']).toContain('x-sandbox-token');
      const sandboxToken = (await readFile(platform.sandboxTokenFile!, 'utf8')).trim();
      const backwards = await fetch(`${platform.url}/sandbox/clock`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sandbox-token': sandboxToken },
        body: '{"advance":"-2h"}',
      });
      expect(backwards.status).toBe(400);
      expect(((await backwards.json()) as Body)['errors']).toEqual([expect.objectContaining({ field: 'advance' })]);
      expect(((await (await fetch(`${platform.url}/sandbox/clock`)).json()) as Body)['offsetMs']).toBe(0);

      // To the next planned text: the reminder, inside the allowed hours.
      const next = await script('sandbox.mjs', ['next'], { DATA_DIR: dataDir });
      expect(next, next.stderr).toMatchObject({ code: 0 });
      expect(next.stdout).toMatch(/sent 1 due message/);
      // Sent by the time the command answers, not at the dispatcher's next round.
      expect(await outbound(patient['_id'], 'reminder')).toEqual([
        expect.objectContaining({ status: 'sent', to: '+14155552671', appointment: appointment['_id'] }),
      ]);
      const moved = (await (await fetch(`${platform.url}/sandbox/clock`)).json()) as Body;
      expect(Math.abs(Date.parse(moved['now']) - Date.parse(ahead[0]!['sendAt']))).toBeLessThan(10_000);

      // By a fixed amount: nothing else is due an hour later.
      const advanced = await script('sandbox.mjs', ['advance', '1h'], { DATA_DIR: dataDir });
      expect(advanced, advanced.stderr).toMatchObject({ code: 0 });
      expect(advanced.stdout).toMatch(/sent 0 due message/);
      const clock = (await (await fetch(`${platform.url}/sandbox/clock`)).json()) as Body;
      expect(clock['offsetMs'] - moved['offsetMs']).toBeGreaterThanOrEqual(HOUR);
      expect(clock['offsetMs'] - moved['offsetMs']).toBeLessThan(HOUR + 10_000);
      expect(JSON.parse(await readFile(join(dataDir, CLOCK_FILE), 'utf8'))).toEqual({ offsetMs: clock['offsetMs'] });
      // Auth kept real time: the token from before the move still works (the calls above used it).
      expect((await api('GET', '/api/tokens/validate')).status).toBe(200);

      const sendDue = await script('sandbox.mjs', ['send-due'], { DATA_DIR: dataDir });
      expect(sendDue, sendDue.stderr).toMatchObject({ code: 0 });
      expect(sendDue.stdout).toMatch(/^sent 0 due message/);
    },
  );

  it(
    'npm run reply finds a platform on another port from the data folder, or from PLATFORM_URL, and a 403 names the URL it signed',
    { timeout: 60_000 },
    async () => {
      const appointment = { _id: booked.appointment };

      // Signed over a URL the platform does not answer at: refused, and the message says what was signed and how to fix it.
      const wrong = await script('sms-reply.mjs', ['415-555-2671', 'C'], { DATA_DIR: dataDir, PUBLIC_URL: 'http://wrong.example:3000' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('403');
      expect(wrong.stderr).toContain('http://wrong.example:3000/api/callback/sms/reminders');
      expect(wrong.stderr).toContain('PUBLIC_URL');
      expect((await ok('GET', `/api/appointments/${appointment['_id']}`))['status']).toBe('unconfirmed');

      // No settings at all: the data folder's platform.json names the port and the URL to sign.
      const reply = await script('sms-reply.mjs', ['415-555-2671', 'C'], { DATA_DIR: dataDir });
      expect(reply, reply.stderr).toMatchObject({ code: 0 });
      await waitFor(async () => (await ok('GET', `/api/appointments/${appointment['_id']}`))['status'] === 'confirmed', {
        timeoutMs: 20_000,
        message: 'confirmed by the reply',
      });

      // Only PLATFORM_URL (a data folder without platform.json, holding the webhook token): it is signed over too.
      const elsewhere = await mkdtemp(join(tmpdir(), 'pep-newcomer-token-'));
      try {
        await copyFile(platform.smsWebhookTokenFile, join(elsewhere, 'sms-webhook-token'));
        const help = await script('sms-reply.mjs', ['415-555-2671', 'HELP'], {
          DATA_DIR: elsewhere,
          PLATFORM_URL: `http://localhost:${port}`,
        });
        expect(help, help.stderr).toMatchObject({ code: 0 });
        expect(help.stdout).toContain('answered');
      } finally {
        await rm(elsewhere, { recursive: true, force: true });
      }
    },
  );

  it(
    'opens the page the password-reset e-mail links to, sets the password with its form, and says when the link is used up',
    { timeout: 60_000 },
    async () => {
      expect((await api('POST', '/api/users/forgot-password', { email: 'new@clinic.example' })).status).toBe(200);
      const link = await waitFor(
        async () => {
          for (const name of await readdir(platform.mailDir)) {
            const mail = await readFile(join(platform.mailDir, name), 'utf8');
            const found = /(http:\/\/localhost:\d+\/reset-password\/[\w-]+)/.exec(mail.replace(/=\r?\n/g, ''));
            if (found) return found[1]!;
          }
          return null;
        },
        { timeoutMs: 10_000, message: 'reset mail written' },
      );
      expect(link.startsWith(`http://localhost:${port}/reset-password/`)).toBe(true);

      const page = await fetch(link, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      // Auth's own policy for the page reaches the browser: no script at all, the form posts to this origin only.
      expect(page.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(page.headers.get('cache-control')).toBe('no-store');
      const html = await page.text();
      expect(html).toContain('<form method="post">');
      expect(html).toContain('name="password"');
      expect(html).not.toMatch(/<script/i);

      const submit = (fields: Record<string, string>) =>
        fetch(link, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields).toString(),
        });
      const login = (password: string) =>
        fetch(`${platform.url}/api/users/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'new@clinic.example', password }),
        });

      const short = await submit({ password: 'short', confirm: 'short' });
      expect(short.status).toBe(400);
      expect(await short.text()).toContain('at least 10 characters');
      const differ = await submit({ password: 'a new long passphrase', confirm: 'another long passphrase' });
      expect(differ.status).toBe(400);
      expect(await differ.text()).toContain('differ');
      // A refused form changed nothing.
      expect((await login('a long passphrase')).status).toBe(200);

      const changed = await submit({ password: 'a new long passphrase', confirm: 'a new long passphrase' });
      expect(changed.status).toBe(200);
      expect(await changed.text()).toContain('Your password has been changed');
      expect((await login('a new long passphrase')).status).toBe(200);
      expect((await login('a long passphrase')).status).toBe(401);

      for (const again of [await submit({ password: 'yet another passphrase', confirm: 'yet another passphrase' }), await fetch(link)]) {
        expect(again.status).toBe(400);
        expect(await again.text()).toContain('This link no longer works');
      }
      expect((await login('a new long passphrase')).status).toBe(200);
    },
  );

  it('keeps the sandbox clock across a restart, so the platform never goes back in time', { timeout: 60_000 }, async () => {
    const before = ((await (await fetch(`${platform.url}/sandbox/clock`)).json()) as Body)['offsetMs'] as number;
    await platform.stop();
    await expect(readFile(join(dataDir, PLATFORM_FILE))).rejects.toThrow();
    platform = await start();
    const after = ((await (await fetch(`${platform.url}/sandbox/clock`)).json()) as Body)['offsetMs'] as number;
    expect(after).toBeGreaterThanOrEqual(23 * HOUR);
    expect(Math.abs(after - before)).toBeLessThan(1_000);
  });
});
