import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import { trace } from '@opentelemetry/api';
import { tracingEnabled } from '@pep/bus';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { registerHealth, registerHealthMetrics, type ConsumerStatus, type ReadinessCheck } from './health.js';
import { documentIdempotency, registerIdempotency, type IdempotencyOptions } from './idempotency.js';
import { IDENTITY_HEADER, verifyIdentity } from './identity.js';
import { guardInput } from './input-guard.js';
import { loggablePath } from './logger.js';
import { registerMetrics } from './metrics.js';
import { documentProblems, preferFormats, pruneComponents, registerOperationIds, type OpenApiObject } from './openapi.js';
import { frameworkErrorProblem, registerProblemHandlers, sendProblem } from './problem.js';
import { registerMethodNotAllowed, registerRouteAccess } from './route-access.js';

/** A Fastify app with the zod type provider, as every service builds it. */
export type ServiceApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** Any Fastify app, whatever its type provider; the kit's plugins work on all of them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, any>;

/** What {@link createServiceApp} needs to know about a service. */
export interface ServiceAppOptions {
  /** Service name, e.g. `patients`; appears in logs, metrics and the OpenAPI document. */
  name: string;
  version?: string;
  description?: string;
  logger: Logger;
  /** Largest accepted request body in bytes. */
  bodyLimit?: number;
  /** Dependencies readiness depends on (the database): `/health/ready` answers 503 while one fails. */
  readiness?: Record<string, ReadinessCheck>;
  /** Dependencies shown in `/health/ready` and `/metrics` that never make the service unready (the broker; ADR 0024). */
  reportOnly?: Record<string, ReadinessCheck>;
  /** The service's consumer groups (bus subscriptions), whose state `/health/ready` and `bus_consumer_joined` show. */
  consumers?: () => Iterable<ConsumerStatus | null | undefined>;
  /** Secret the gateway signs caller identities with; without it no request carries an identity. */
  internalAuthSecret?: string;
  /** Proxy hops whose X-Forwarded-For is trusted when working out the client address. */
  trustProxy?: number;
  /** Security schemes routes name in their own `security` (a vendor webhook's Basic credentials), for the OpenAPI document. */
  securitySchemes?: Record<string, { type: 'http'; scheme: 'basic' | 'bearer'; description?: string }>;
  /** Where the service keeps `Idempotency-Key` records (its own database); with it every write honours the header (ADR 0025). */
  idempotency?: IdempotencyOptions;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Fastify's request lines as one line per request, written when it is answered, instead of an incoming/completed pair. */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  // Through the request's logger: a route's logLevel (probes log at warn), the request id and what a handler bound to it
  // (the gateway's upstream) apply.
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const line = { req: request, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime) };
    if (error) request.log.error({ ...line, err: error }, 'request errored');
    else request.log.info(line, 'request completed');
  }
}

/**
 * Builds the common shell of a service: request ids, problem+json errors, zod validation and
 * serialization, OpenAPI at `/openapi.json`, health, metrics and graceful close. Routes come after.
 */
export async function createServiceApp(options: ServiceAppOptions): Promise<ServiceApp> {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // Accept a caller's request id when it looks like one, so a flow can be traced across services.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    logController: new OneLinePerRequest(),
    // Keep-alive connections would otherwise hold shutdown open until their idle timeout.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // onReady hooks start consumers in the background and return (ADR 0024); what they still await (a first database
    // read) may take longer than Fastify's 10 s default on a loaded database.
    pluginTimeout: 60_000,
    ...(options.trustProxy ? { trustProxy: (_address: string, hop: number) => hop < options.trustProxy! } : {}),
    ajv: { customOptions: { removeAdditional: false } },
    // `/api/patients/` is `/api/patients`: the product's clients send both, and one registration serves them.
    routerOptions: { ignoreTrailingSlash: true },
    // Errors the router raises before any route runs (a malformed percent-encoded path) answer problem+json too.
    frameworkErrors: (error, request, reply) => sendProblem(reply, request, frameworkErrorProblem(error)),
  }).withTypeProvider<ZodTypeProvider>() as unknown as ServiceApp;

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Before any route is added: both read every route as it is registered.
  registerProblemHandlers(app, registerMethodNotAllowed(app));
  registerRouteAccess(app);
  const operations = registerOperationIds(app);
  // Before any route is added: it wraps the handler of every write route.
  if (options.idempotency) registerIdempotency(app, options.idempotency);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    request.identity = options.internalAuthSecret
      ? await verifyIdentity(options.internalAuthSecret, headerValue(request.headers[IDENTITY_HEADER]))
      : null;
  });
  app.decorateRequest('identity', null);
  // The HTTP instrumentation opened the request's SERVER span; the route is only known here. Ids only, never a query.
  if (tracingEnabled()) {
    app.addHook('onRequest', async (request) => {
      const span = trace.getActiveSpan();
      const route = request.routeOptions.url;
      if (!span || !route) return;
      span.updateName(`${request.method} ${route}`);
      span.setAttribute('http.route', route);
      span.setAttribute('url.path', loggablePath(request) ?? route);
    });
  }
  // Before validation, so a NUL byte or a 3,000-deep array never reaches zod, a handler or the database.
  app.addHook('preValidation', guardInput);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.name, version: options.version ?? '0.1.0', description: options.description ?? '' },
      ...(options.securitySchemes ? { components: { securitySchemes: options.securitySchemes } } : {}),
    },
    transform: jsonSchemaTransform,
    // Schemas registered with `.meta({ id })` become named components the operations refer to; then every operation
    // gets the problem answers it can give, and components no operation reaches are dropped.
    transformObject: (document) => {
      const withSchemas = jsonSchemaTransformObject(document) as OpenApiObject;
      const withKeys = options.idempotency ? documentIdempotency(withSchemas) : withSchemas;
      return preferFormats(pruneComponents(documentProblems(withKeys, operations))) as ReturnType<typeof jsonSchemaTransformObject>;
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const health = { readiness: options.readiness, reportOnly: options.reportOnly, consumers: options.consumers };
  registerHealth(app, health);
  registerMetrics(app, options.name);
  registerHealthMetrics(app, health);
  return app;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
