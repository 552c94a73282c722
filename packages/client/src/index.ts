import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './generated/schema.js';

export type { components, operations, paths };

/** A named component schema of the API, e.g. `Schema<'Patient'>`. */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];

/** The typed client of the platform API: `client.GET('/api/patients/{id}', { params: { path: { id } } })`. */
export type PlatformClient = Client<paths>;

/** What {@link createPlatformClient} needs. */
export interface PlatformClientOptions {
  /** The gateway's base URL, e.g. `https://api.example.com`. */
  baseUrl: string;
  /** An access token sent as `Authorization: Bearer`; a function is asked before every request (for refreshed tokens). */
  token?: string | (() => string | undefined);
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Replaces the global `fetch` (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

/** A typed client of the platform API, generated from its OpenAPI document. */
export function createPlatformClient(options: PlatformClientOptions): PlatformClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/$/, ''),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token !== undefined) {
    const bearer: Middleware = {
      onRequest({ request }) {
        const value = typeof token === 'function' ? token() : token;
        if (value && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${value}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
