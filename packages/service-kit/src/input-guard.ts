import type { FastifyRequest } from 'fastify';
import { HttpProblem, type InvalidField } from './problem.js';

/** Deepest nesting of arrays and objects a request may carry; the API's own bodies stay under ten levels. */
export const MAX_INPUT_DEPTH = 32;

// Postgres refuses NUL in text (22021) and in jsonb (22P05); an unpaired surrogate has no UTF-8 form: text silently stores
// U+FFFD instead of what was sent, and jsonb refuses it (22P02).
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why Postgres could not store the text as sent, or null when it can. */
export function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL characters (\\u0000)';
  if (UNPAIRED_SURROGATE.test(text)) return 'must not contain unpaired surrogate characters (invalid UTF-16)';
  return null;
}

// Only what a parser builds is walked: a proxied stream or a Buffer is someone else's to read.
function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  // The query parser's objects inherit from a bare prototype of their own, itself without one.
  return prototype === Object.prototype || prototype === null || Object.getPrototypeOf(prototype) === null;
}

// A key that cannot be stored is named with its bad characters escaped, so the answer stays valid text itself.
function printableKey(key: string): string {
  // Iterating by code point leaves a paired surrogate whole and yields an unpaired one on its own.
  return Array.from(key, (char) => (unstorableText(char) ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : char)).join('');
}

/**
 * The fields of a parsed request part (`body`, `querystring`, `params`) holding text Postgres cannot store, or nesting
 * deeper than `maxDepth`. Walks with its own stack, so no input can overflow the call stack; stops after `limit` fields.
 */
export function findUnsafeInput(value: unknown, location: string, maxDepth = MAX_INPUT_DEPTH, limit = 20): InvalidField[] {
  const found: InvalidField[] = [];
  const pending: Array<{ value: unknown; field: string; depth: number }> = [{ value, field: location, depth: 0 }];
  while (pending.length > 0 && found.length < limit) {
    const { value: current, field, depth } = pending.pop()!;
    if (typeof current === 'string') {
      const reason = unstorableText(current);
      if (reason) found.push({ field, message: reason });
      continue;
    }
    if (!isContainer(current)) continue;
    if (depth >= maxDepth) {
      found.push({ field, message: `nested too deep: at most ${maxDepth} levels of arrays and objects` });
      continue;
    }
    const entries = Array.isArray(current) ? current.map((item, index) => [String(index), item] as const) : Object.entries(current);
    // Pushed in reverse so fields are reported in document order.
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, item] = entries[index]!;
      const keyReason = Array.isArray(current) ? null : unstorableText(key);
      if (keyReason) found.push({ field: `${field}.${printableKey(key)}`, message: `field name ${keyReason}` });
      else pending.push({ value: item, field: `${field}.${key}`, depth: depth + 1 });
    }
  }
  return found.slice(0, limit);
}

/**
 * Refuses, before validation, a request whose body, query or path parameters hold text the database cannot store or
 * nest deeper than {@link MAX_INPUT_DEPTH}: 400 naming each field. Every route of every service passes through it.
 */
export async function guardInput(request: FastifyRequest): Promise<void> {
  const errors = [
    ...findUnsafeInput(request.params, 'params'),
    ...findUnsafeInput(request.query, 'querystring'),
    ...findUnsafeInput(request.body, 'body'),
  ];
  if (errors.length > 0) throw new HttpProblem(400, 'validation', 'The request is invalid.', { errors });
}
