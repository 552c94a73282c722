import { describe, expect, it } from 'vitest';
import { canonicalJson, documentIdempotency } from './idempotency.js';

describe('idempotency: request fingerprints and the OpenAPI document', () => {
  it('writes one canonical JSON for bodies that differ only in key order or undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: undefined } })).toBe(
      canonicalJson({ a: { d: [2, { y: 2, z: 1 }] }, b: 1 }),
    );
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    // Order inside arrays is meaning, and so are types.
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
    expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }));
    expect(canonicalJson({ at: new Date('2026-01-01T00:00:00Z'), raw: Buffer.from('hi') })).toBe(
      '{"at":"2026-01-01T00:00:00.000Z","raw":{"$bytes":"aGk="}}',
    );
  });

  it('adds the optional header and the 409 and 422 answers to writes only, keeping what a route declared', () => {
    const document = documentIdempotency({
      paths: {
        '/api/things': {
          get: { responses: { 200: { description: 'ok' } } },
          post: {
            parameters: [{ name: 'page', in: 'query' }],
            responses: { 200: { description: 'ok' }, 409: { description: 'slot taken' } },
          },
        },
        '/api/things/{id}': { delete: { responses: {} } },
      },
    });
    const post = document.paths['/api/things']!['post'] as unknown as {
      parameters: Array<{ name: string; in: string; required: boolean }>;
      responses: Record<string, { description?: string; $ref?: string }>;
    };
    expect(post.parameters.map((parameter) => [parameter.name, parameter.in])).toEqual([
      ['page', 'query'],
      ['Idempotency-Key', 'header'],
    ]);
    expect(post.parameters[1]!.required).toBe(false);
    expect(post.responses['409']!.description).toBe('slot taken');
    expect(post.responses['422']).toEqual({ $ref: '#/components/responses/IdempotencyKeyReused' });
    expect(document.paths['/api/things']!['get']).toEqual({ responses: { 200: { description: 'ok' } } });
    expect(Object.keys((document.paths['/api/things/{id}']!['delete'] as { responses: object }).responses)).toEqual(['409', '422']);
    // Applied twice (a document rebuilt), the header is still there once.
    const twice = documentIdempotency(document).paths['/api/things']!['post'] as { parameters: unknown[] };
    expect(twice.parameters).toHaveLength(2);
  });
});
