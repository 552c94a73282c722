import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_HEADERS } from './bus.js';
import {
  deadLetterHeaders,
  deliver,
  errorText,
  notifyDeadLetter,
  retryDelay,
  retryPolicy,
  retryRetriable,
  runWithRetry,
  type ConsumedRecord,
} from './delivery.js';

const record: ConsumedRecord = { topic: 't', partition: 2, offset: '17', key: 'k', value: Buffer.from('v'), headers: { ce_id: 'e1' } };

describe('retry policy', () => {
  it('defaults to 5 attempts from 200 ms doubling up to 5 s', () => {
    const policy = retryPolicy({});
    expect(policy).toEqual({ maxAttempts: 5, retryDelayMs: 200, maxRetryDelayMs: 5_000 });
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => retryDelay(policy, attempt))).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
  });

  it('rejects a bound below one attempt', () => {
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
  });
});

describe('runWithRetry', () => {
  it('numbers attempts from 1 and stops at the bound', async () => {
    const attempts: number[] = [];
    const outcome = await runWithRetry(
      record,
      async (message) => {
        attempts.push(message.attempt);
        throw new Error('no');
      },
      retryPolicy({ maxAttempts: 3, retryDelayMs: 1 }),
    );
    expect(attempts).toEqual([1, 2, 3]);
    expect(outcome).toMatchObject({ kind: 'exhausted', attempts: 3 });
  });

  it('gives up waiting when aborted, without counting the record as handled', async () => {
    const abort = new AbortController();
    const outcome = runWithRetry(
      record,
      async () => {
        setTimeout(() => abort.abort(), 5);
        throw new Error('no');
      },
      retryPolicy({ retryDelayMs: 60_000 }),
      { signal: abort.signal },
    );
    await expect(outcome).resolves.toEqual({ kind: 'aborted', attempts: 1 });
  });

  it('shields later attempts from a handler that mutates headers', async () => {
    const seen: Record<string, string>[] = [];
    await runWithRetry(
      record,
      async (message) => {
        seen.push({ ...message.headers });
        message.headers.ce_id = 'changed';
        if (message.attempt === 1) throw new Error('again');
      },
      retryPolicy({ retryDelayMs: 1 }),
    );
    expect(seen).toEqual([{ ce_id: 'e1' }, { ce_id: 'e1' }]);
  });
});

describe('deliver', () => {
  it('dead-letters after the bound and reports it', async () => {
    const letters: Record<string, string>[] = [];
    const outcome = await deliver(record, {
      groupId: 'g',
      policy: retryPolicy({ maxAttempts: 2, retryDelayMs: 1 }),
      handler: async () => {
        throw new TypeError('bad shape');
      },
      deadLetter: async (_record, headers) => {
        letters.push(headers);
      },
    });
    expect(outcome).toBe('dead-lettered');
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      ce_id: 'e1',
      [DEAD_LETTER_HEADERS.error]: 'TypeError: bad shape',
      [DEAD_LETTER_HEADERS.attempts]: '2',
    });
  });

  it('rejects when the dead letter cannot be written, so the caller does not commit', async () => {
    const outcome = deliver(record, {
      groupId: 'g',
      policy: retryPolicy({ maxAttempts: 1 }),
      handler: async () => {
        throw new Error('x');
      },
      deadLetter: async () => {
        throw new Error('broker down');
      },
    });
    await expect(outcome).rejects.toThrow('broker down');
  });
});

describe('dead-letter headers', () => {
  it('name the origin and the failure', () => {
    const headers = deadLetterHeaders(record, 'grp', new Error('boom'), 4, new Date('2026-01-02T03:04:05.000Z'));
    expect(headers).toEqual({
      ce_id: 'e1',
      'x-dlq-original-topic': 't',
      'x-dlq-original-partition': '2',
      'x-dlq-original-offset': '17',
      'x-dlq-consumer-group': 'grp',
      'x-dlq-error': 'Error: boom',
      'x-dlq-attempts': '4',
      'x-dlq-failed-at': '2026-01-02T03:04:05.000Z',
    });
  });

  it('keep error text to one bounded line', () => {
    const text = errorText(new Error(`a\nb${'x'.repeat(5_000)}`));
    expect(text.startsWith('Error: a b')).toBe(true);
    expect(text.length).toBe(1_000);
  });
});

describe('retryRetriable', () => {
  const retriableError = () => Object.assign(new Error('not yet'), { retriable: true });

  it('asks again after retriable failures, waiting the step times the attempt', async () => {
    const started: number[] = [];
    const result = await retryRetriable(
      async () => {
        started.push(performance.now());
        if (started.length < 3) throw retriableError();
        return 'done';
      },
      5,
      20,
    );
    expect(result).toBe('done');
    expect(started).toHaveLength(3);
    // 20 ms after the first failure, 40 ms after the second (timers may fire a hair early).
    expect(started[1]! - started[0]!).toBeGreaterThanOrEqual(18);
    expect(started[2]! - started[1]!).toBeGreaterThanOrEqual(38);
  });

  it('throws the last retriable failure once the attempts run out', async () => {
    let calls = 0;
    const failing = retryRetriable(
      async () => {
        calls += 1;
        throw retriableError();
      },
      3,
      1,
    );
    await expect(failing).rejects.toThrow('not yet');
    expect(calls).toBe(3);
  });

  it('throws any other failure at once', async () => {
    let calls = 0;
    const failing = retryRetriable(
      async () => {
        calls += 1;
        throw Object.assign(new Error('refused'), { retriable: false });
      },
      5,
      1,
    );
    await expect(failing).rejects.toThrow('refused');
    expect(calls).toBe(1);
  });
});

describe('notifyDeadLetter', () => {
  it('tells the observer of the dead letter', () => {
    const observed: { groupId: string; topic: string }[] = [];
    notifyDeadLetter(
      { onDeadLetter: (deadLettered) => observed.push(deadLettered) },
      { groupId: 'grp', topic: 't' },
      pino({ level: 'silent' }),
    );
    expect(observed).toEqual([{ groupId: 'grp', topic: 't' }]);
  });

  it('logs an observer that throws instead of failing the record', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const throwing = {
      onDeadLetter: () => {
        throw new Error('metrics down');
      },
    };
    expect(() => notifyDeadLetter(throwing, { groupId: 'grp', topic: 't' }, logger)).not.toThrow();
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        msg: 'dead-letter observer failed',
        groupId: 'grp',
        topic: 't',
        err: expect.objectContaining({ name: 'Error', message: 'metrics down' }),
      }),
    ]);
  });
});
