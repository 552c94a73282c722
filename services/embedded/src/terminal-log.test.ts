import { Writable } from 'node:stream';
import { createLogger } from '@pep/service-kit';
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, terminalLogStream } from './terminal-log.js';

describe('the embedded platform log format', () => {
  it('is pretty for a terminal, JSON for a pipe or a file, and LOG_FORMAT decides when set', () => {
    expect(chooseLogFormat(undefined, true)).toBe('pretty');
    expect(chooseLogFormat(undefined, false)).toBe('json');
    expect(chooseLogFormat(undefined, undefined)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
  });

  it('pretty writes one line per entry, a request as method, path, status and time, still redacted', async () => {
    let written = '';
    const capture = new Writable({
      write(chunk, _encoding, done) {
        written += String(chunk);
        done();
      },
    });
    const logger = createLogger({ service: 'gateway', destination: await terminalLogStream(capture) });
    logger.child({ reqId: 'r-1', upstream: 'patients' }).info(
      // As a Fastify request carries it: the route it matched, which the logger's path is made from.
      {
        req: { method: 'POST', url: '/api/patients?name=Lovelace', routeOptions: { url: '/api/patients' } },
        res: { statusCode: 201 },
        responseTime: 12,
      },
      'request completed',
    );
    // A careless line carrying a phone: the logger's redaction must remove it in the pretty format as in JSON.
    logger.info({ phone: '+14155552671', reminderId: 'abc' }, 'reminder sent');

    const lines = written.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    // eslint-disable-next-line no-control-regex
    const plain = lines.map((line) => line.replace(/\u001b\[[0-9;]*m/g, ''));
    expect(plain[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway +POST \/api\/patients 201 12 ms → patients$/);
    expect(plain[1]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway +reminder sent \{.*"reminderId":"abc".*\}$/);
    expect(written).not.toContain('Lovelace');
    expect(written).not.toContain('4155552671');
  });
});
