import type { FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { HttpProblem } from './problem.js';
import type { Identity } from './identity.js';
import type { AnyApp } from './service-app.js';

/** Who may call a route: callers holding any one of these roles, or `public` for anyone, signed in or not. */
export type RouteAccess = readonly string[] | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Who may call the route. The kit answers 401 to a caller without an identity and 403 to one holding none of the roles,
     * before the handler runs, and ends the route's OpenAPI description with the same list; `public` routes get `security: []`.
     */
    roles?: RouteAccess;
    /**
     * Lets a request without an identity through a route with roles when it proves itself otherwise (a signed link);
     * runs after validation. A request with an identity is still held to the roles.
     */
    anonymousIf?: (request: FastifyRequest) => boolean;
  }
}

/** The sentence a route's OpenAPI description ends with, naming who may call it. */
export function roleLine(access: RouteAccess): string {
  return access === 'public' ? 'Public: no access token needed.' : `Roles: ${access.join(', ')}.`;
}

// Route-level, so it runs after every app-level preHandler (the organization guard's 401 comes first, as it always did),
// and after validation: a malformed request answers 400 whoever sends it, as before roles were declared on routes.
async function checkRoles(request: FastifyRequest): Promise<void> {
  const access = request.routeOptions.config.roles;
  if (access === undefined || access === 'public') return;
  const identity = request.identity;
  if (!identity && request.routeOptions.config.anonymousIf?.(request)) return;
  if (!identity) throw new HttpProblem(401, 'unauthenticated', 'Authentication is required.');
  if (!identity.roles.some((role) => access.includes(role))) throw new HttpProblem(403, 'forbidden', 'Your role may not do this.');
}

type RouteSchema = FastifySchema & { description?: string };

/**
 * Makes every route that declares `config.roles` checked by one hook and documented by the same list, so the two
 * cannot drift: the description ends with {@link roleLine}, and a public route declares `security: []`.
 */
export function registerRouteAccess(app: AnyApp): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.roles;
    if (access === undefined) return;
    if (access !== 'public' && access.length === 0)
      throw new Error(`${String(route.method)} ${route.url} declares an empty role list; no one could call it`);
    const schema = (route.schema ?? {}) as RouteSchema;
    const line = roleLine(access);
    route.schema = {
      ...schema,
      description: schema.description ? `${schema.description} ${line}` : line,
      ...(access === 'public' ? { security: [] } : {}),
    };
    if (access !== 'public') route.preHandler = [...[route.preHandler ?? []].flat(), checkRoles];
  });
}

/**
 * The caller of a route that declares its roles (`config: { roles }`), whom the kit has already let through. Reading
 * the caller on a route that declares none is a mistake in the route, answered 500 rather than letting anyone in.
 */
export function callerOf(request: FastifyRequest): Identity {
  const access = request.routeOptions.config.roles;
  if (access === undefined || access === 'public') {
    throw new Error(`${request.method} ${request.routeOptions.url ?? request.url} reads its caller but declares no roles`);
  }
  // Unreachable after checkRoles; kept so the type says what the hook guarantees.
  if (!request.identity) throw new HttpProblem(401, 'unauthenticated', 'Authentication is required.');
  return request.identity;
}

/** Methods a path answers to other than the one asked, for a 405 (see {@link registerMethodNotAllowed}). */
export interface MethodIndex {
  /** The methods of the routes matching `path`, with HEAD wherever GET is; empty when no route matches. */
  allowedFor(path: string): string[];
}

interface IndexedRoute {
  methods: string[];
  matches: (segments: string[]) => boolean;
}

// A route pattern as find-my-way reads the ones used here: static segments, `:param` segments (one non-empty segment,
// optionally with a regular expression), and a final `*` taking the rest.
function compilePattern(url: string): (segments: string[]) => boolean {
  const parts = trimSlash(url).split('/');
  const wildcard = parts[parts.length - 1] === '*';
  const fixed = wildcard ? parts.slice(0, -1) : parts;
  const tests = fixed.map((part) => {
    if (!part.startsWith(':')) return (segment: string) => segment === part;
    const regex = /\((.*)\)$/.exec(part)?.[1];
    const pattern = regex ? new RegExp(`^(?:${regex})$`) : null;
    return (segment: string) => segment.length > 0 && (!pattern || pattern.test(segment));
  });
  return (segments) =>
    (wildcard ? segments.length >= tests.length : segments.length === tests.length) && tests.every((test, index) => test(segments[index]!));
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function segmentsOf(path: string): string[] {
  const bare = trimSlash(path.split('?', 1)[0]!);
  return bare.split('/').map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  });
}

/**
 * Indexes the app's routes so the not-found handler can tell a wrong method on a known path (405 with `Allow`) from an
 * unknown path (404). Catch-all routes (`*`) and OPTIONS routes (CORS preflights) say nothing about a path's methods.
 */
export function registerMethodNotAllowed(app: AnyApp): MethodIndex {
  const routes: IndexedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.url === '*' || route.url === '/*') return;
    const methods = [route.method]
      .flat()
      .map((method) => method.toUpperCase())
      .filter((method) => method !== 'OPTIONS');
    if (methods.length > 0) routes.push({ methods, matches: compilePattern(route.url) });
  });
  return {
    allowedFor(path) {
      const segments = segmentsOf(path);
      const allowed = new Set<string>();
      for (const route of routes) if (route.matches(segments)) route.methods.forEach((method) => allowed.add(method));
      if (allowed.has('GET')) allowed.add('HEAD');
      return [...allowed].sort();
    },
  };
}
