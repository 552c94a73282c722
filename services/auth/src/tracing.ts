import { startTracing } from '@pep/service-kit/tracing';

// Its own module, imported first by main: the SDK must be running before Fastify and the vendors' SDKs load. Off unless
// an OTLP endpoint is configured.
startTracing('auth');
