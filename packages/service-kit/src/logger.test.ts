import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger', () => {
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
