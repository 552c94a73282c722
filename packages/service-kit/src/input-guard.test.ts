import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findUnsafeInput, MAX_INPUT_DEPTH } from './input-guard.js';
import { createLogger } from './logger.js';
import { createServiceApp } from './service-app.js';

const silent = createLogger({ service: 'test', level: 'silent' });

async function buildTestApp() {
  const stored: unknown[] = [];
  const app = await createServiceApp({ name: 'test', logger: silent, bodyLimit: 64 * 1024 });
  app.post(
    '/things',
    { schema: { body: z.object({ name: z.string(), tags: z.array(z.string()).optional(), settings: z.json().optional() }).strict() } },
    async (request) => {
      stored.push(request.body);
      return { ok: true };
    },
  );
  app.get(
    '/things/:key',
    { schema: { params: z.object({ key: z.string() }), querystring: z.object({ value: z.string().optional() }) } },
    async (request) => {
      stored.push(request.query);
      return { ok: true };
    },
  );
  const point = z.object({ x: z.number(), y: z.number() }).strict();
  const range = z.object({ from: z.iso.date(), until: z.iso.date() }).strict();
  app.post('/shapes', { schema: { body: z.union([point, z.array(point).min(1), range]) } }, async (request) => {
    stored.push(request.body);
    return { ok: true };
  });
  await app.ready();
  return { app, stored };
}

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? [value] : { a: value };
  return value;
};

const fields = (body: { errors?: Array<{ field: string }> }) => (body.errors ?? []).map((error) => error.field);

describe('input guard', () => {
  it('refuses NUL characters anywhere in a body with 400 naming each field, and stores nothing', async () => {
    const { app, stored } = await buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { name: 'Ada\u0000', tags: ['ok', 'b\u0000d'], settings: { 'k\u0000': 1, deep: { x: '\u0000' } } },
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(fields(response.json()).sort()).toEqual(['body.name', 'body.settings.deep.x', 'body.settings.k\\u0000', 'body.tags.1']);
    expect(response.json().errors[0].message).toMatch(/NUL/);
    expect(stored).toHaveLength(0);
  });

  it('refuses unpaired surrogates, which UTF-8 cannot carry, but keeps paired ones', async () => {
    const { app, stored } = await buildTestApp();
    const lone = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"x\\ud800y"}',
    });
    expect(lone.statusCode).toBe(400);
    expect(fields(lone.json())).toEqual(['body.name']);
    const emoji = await app.inject({ method: 'POST', url: '/things', payload: { name: 'smile \u{1F600}' } });
    expect(emoji.statusCode).toBe(200);
    expect(stored).toEqual([{ name: 'smile \u{1F600}' }]);
  });

  it(`refuses nesting deeper than ${MAX_INPUT_DEPTH} levels with 400 naming where it gets too deep`, async () => {
    const { app, stored } = await buildTestApp();
    const deep = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', settings: nested(3000) } });
    expect(deep.statusCode).toBe(400);
    const [field] = fields(deep.json());
    expect(field).toMatch(/^body\.settings(\.(0|a))+$/);
    expect(field!.split('.')).toHaveLength(MAX_INPUT_DEPTH + 1);
    const bare = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '['.repeat(20_000) + ']'.repeat(20_000),
    });
    expect(bare.statusCode).toBe(400);
    expect(bare.headers['content-type']).toMatch(/^application\/problem\+json/);
    const fine = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', settings: nested(MAX_INPUT_DEPTH - 2) } });
    expect(fine.statusCode).toBe(200);
    expect(stored).toHaveLength(1);
  });

  it('refuses NUL in the query string and path parameters', async () => {
    const { app, stored } = await buildTestApp();
    const query = await app.inject({ method: 'GET', url: '/things/a?value=%00' });
    expect(query.statusCode).toBe(400);
    expect(fields(query.json())).toEqual(['querystring.value']);
    const params = await app.inject({ method: 'GET', url: '/things/a%00b' });
    expect(params.statusCode).toBe(400);
    expect(fields(params.json())).toEqual(['params.key']);
    expect(stored).toHaveLength(0);
  });

  it('answers a malformed percent-encoded path with a 400 problem', async () => {
    const { app } = await buildTestApp();
    const response = await app.inject({ method: 'GET', url: '/things/%E0%A4%A' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: 400, type: '/problems/bad-url', errors: [{ field: 'path' }] });
  });

  it('names the fields of the union branch the body was meant for, not `body: Invalid input`', async () => {
    const { app, stored } = await buildTestApp();
    const cases: Array<[unknown, string[]]> = [
      [{ x: 1, y: 'two' }, ['body.y']],
      [{ from: '2026-01-01', until: 'soon' }, ['body.until']],
      [
        [
          { x: 1, y: 2 },
          { x: 'a', y: 2 },
        ],
        ['body.1.x'],
      ],
      [{ x: 1, y: 2, until: '2026-01-01' }, ['body.until']],
      ['text', ['body']],
    ];
    for (const [payload, expected] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/shapes',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(fields(response.json()), JSON.stringify(payload)).toEqual(expected);
    }
    expect(stored).toHaveLength(0);
  });

  it('walks without recursion and stops after the limit', () => {
    expect(findUnsafeInput(nested(100_000), 'body')).toHaveLength(1);
    expect(
      findUnsafeInput(
        Array.from({ length: 50 }, () => '\u0000'),
        'body',
        MAX_INPUT_DEPTH,
        5,
      ),
    ).toHaveLength(5);
    expect(findUnsafeInput({ a: ['fine', { b: 2 }] }, 'body')).toEqual([]);
  });
});
