import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, loggablePath, scrubErrorText } from './logger.js';
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
    // One line per request, written when it is answered.
    const entries = lines.map((line) => JSON.parse(line));
    expect(entries.map((entry) => entry.msg)).toEqual(['request completed']);
    expect(entries[0]).toMatchObject({ req: { method: 'GET', url: '/api/patients/search' }, res: { statusCode: 200 } });
    expect(entries[0].responseTime).toBeTypeOf('number');
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

  /** A logger writing into an array of parsed lines. */
  const captured = () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { lines, logger: createLogger({ service: 'test', level: 'trace', destination }) };
  };

  it('drops the query of every URL it logs, in any field, message or error, at any depth', () => {
    const { lines, logger } = captured();
    const url = 'http://127.0.0.1:3001/api/callback/sms/reminders?From=%2B14155550147&Body=STOP';
    logger.info(
      { source: url, upstream: { url: new URL(url) }, list: ['/api/patients/search?type=name&value=Lovelace'] },
      'fetching from remote server',
    );
    logger.info('Route GET:%s not found', '/api/patients/search?type=email&value=ada%40example.com');
    logger.warn(new Error(`request to ${url} failed`));
    logger.child({ component: 'proxy' }).error({ err: new TypeError(`fetch ${url} failed`) }, 'upstream failed');
    const text = lines.join('');
    for (const leak of ['From=', 'Body=STOP', '14155550147', 'Lovelace', 'ada%40example.com']) expect(text).not.toContain(leak);
    const [proxied, notFound, failed] = lines.map((line) => JSON.parse(line));
    expect(proxied).toMatchObject({
      source: 'http://127.0.0.1:3001/api/callback/sms/reminders',
      upstream: { url: 'http://127.0.0.1:3001/api/callback/sms/reminders' },
      list: ['/api/patients/search'],
    });
    expect(notFound.msg).toBe('Route GET:/api/patients/search not found');
    expect(failed).toMatchObject({ msg: 'request to http://127.0.0.1:3001/api/callback/sms/reminders failed', err: { type: 'Error' } });
  });

  it('scrubs the values drivers and parsers quote in error texts, keeping what says what went wrong', () => {
    // Texts as Postgres, Prisma, zod and V8 word them (copied from real failures).
    expect(scrubErrorText('Key (organization, phone)=(6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0a01, +14155550199) already exists.')).toBe(
      'Key (organization, phone)=([redacted]) already exists.',
    );
    expect(scrubErrorText('Failing row contains (6c0a, Philippa, null, 1958-11-02).')).toBe('Failing row contains ([redacted]).');
    expect(scrubErrorText('invalid input syntax for type uuid: "Philippa W": invalid input syntax for type uuid: "Philippa W"')).toBe(
      'invalid input syntax for type uuid: "[redacted]": invalid input syntax for type uuid: "[redacted]"',
    );
    expect(scrubErrorText('null value in column "lastname" of relation "patient" violates not-null constraint')).toBe(
      'null value in column "lastname" of relation "patient" violates not-null constraint',
    );
    expect(
      scrubErrorText(
        'Invalid `prisma.patient.create()` invocation:\n{\n  data: {\n    firstname: "Philippa",\n    gender: "Wrenwhistle"\n  }\n}',
      ),
    ).toBe('Invalid `prisma.patient.create()` invocation:\n{\n  data: {\n    firstname: "[redacted]",\n    gender: "[redacted]"\n  }\n}');
    expect(
      scrubErrorText(
        '[\n  {\n    "code": "custom",\n    "path": [\n      "phone"\n    ],\n    "message": "not a valid phone number"\n  }\n]',
      ),
    ).toBe('[\n  {\n    "code": "[redacted]",\n    "path": [\n      "[redacted]"\n    ],\n    "message": "[redacted]"\n  }\n]');
    expect(scrubErrorText(`Unexpected token 'P', "{"firstname": "Philippa W"... is not valid JSON`)).toBe(
      `Unexpected token '[redacted]', "[redacted]"... is not valid JSON`,
    );
    expect(scrubErrorText("Can't reach the server: received 'Ada Lovelace'")).toBe("Can't reach the server: received '[redacted]'");
    expect(scrubErrorText('"exp" claim timestamp check failed')).toBe('"exp" claim timestamp check failed');
    // Vendors name the number or address they refused, unquoted (Twilio's and an SMTP server's wording).
    expect(scrubErrorText('The To number +14155550147 is not a valid phone number.')).toBe(
      'The To number [redacted] is not a valid phone number.',
    );
    expect(scrubErrorText('550 5.1.1 <Ada.Lovelace@Example.com>: Recipient address rejected')).toBe(
      '550 5.1.1 <[redacted]>: Recipient address rejected',
    );
    expect(scrubErrorText('no patient at (415) 555-0147 or 415.555.0148, offset 4155550149')).toBe(
      'no patient at [redacted] or [redacted], offset 4155550149',
    );
  });

  it('replaces contact details in any field or message, and leaves ids, times and addresses of servers alone', () => {
    const { lines, logger } = captured();
    const id = '3f0c2a4e-8a51-4f0b-9d55-1f2e3d4c5b6a';
    const kept = { id, at: '2026-05-12T14:00:00.000Z', remote: '127.0.0.1:5432', client: 'kafkajs@2.2.4' };
    logger.info({ to: '+14155550147', recipient: { address: 'Ada.Lovelace@Example.co.uk' }, ...kept }, 'sending to %s', '415-555-0147');
    const [line] = lines.map((text) => JSON.parse(text));
    expect(line).toMatchObject({ to: '[redacted]', recipient: { address: '[redacted]' }, ...kept, msg: 'sending to [redacted]' });
  });

  it('logs request paths as routes: ids kept, other values by their parameter name, unmatched parts as *', () => {
    const id = '3f0c2a4e-8a51-4f0b-9d55-1f2e3d4c5b6a';
    expect(loggablePath({ url: `/api/patients/${id}/journey?x=1`, routeOptions: { url: '/api/patients/:id/journey' } })).toBe(
      `/api/patients/${id}/journey`,
    );
    expect(loggablePath({ url: '/api/patients/Lovelace', routeOptions: { url: '/api/patients/:id' } })).toBe('/api/patients/:id');
    expect(loggablePath({ url: '/api/users/reset-password/s3cr3t-T0ken', routeOptions: { url: '/api/users/reset-password/:token' } })).toBe(
      '/api/users/reset-password/:token',
    );
    expect(loggablePath({ url: `/api/patients/${id}/Lovelace`, routeOptions: { url: '/api/patients/*' } })).toBe(`/api/patients/${id}/*`);
    expect(loggablePath({ url: '/nothing/+14155550147/12' })).toBe('/*/*/12');
  });
});
