import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createServiceApp } from './service-app.js';

describe('logger', () => {
  it('logs request paths without their query strings', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = await createServiceApp({ name: 'test', logger: createLogger({ service: 'test', destination }) });
    app.get('/api/patients/search', async () => ({ ok: true }));
    await app.inject({ url: '/api/patients/search?type=name&value=Lovelace' });
    const incoming = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'incoming request');
    expect(incoming.req.url).toBe('/api/patients/search');
    expect(lines.join('')).not.toContain('Lovelace');
    // Probes would drown everything else at info level.
    lines.length = 0;
    await app.inject({ url: '/health/live' });
    expect(lines).toEqual([]);
  });

  it('redacts PHI and secrets at any usual depth', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ service: 'test', destination });
    logger.info(
      {
        phone: '+15551234567',
        patient: { firstname: 'Ada', lastname: 'Lovelace', email: 'ada@example.com', dateOfBirth: '1815-12-10' },
        req: { headers: { authorization: 'Bearer abc', 'x-access-token': 'tok' } },
        message: { body: 'my test results' },
        kept: 'visible',
      },
      'hello',
    );
    const line = lines.join('');
    for (const secret of ['+15551234567', 'Ada', 'Lovelace', 'ada@example.com', '1815-12-10', 'Bearer abc', 'tok"', 'my test results']) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('visible');
    expect(JSON.parse(line)).toMatchObject({ service: 'test', level: 'info', msg: 'hello' });
  });
});
