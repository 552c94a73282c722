import type { SubscriptionState } from '@pep/bus';
import { Gauge } from 'prom-client';
import type { AnyApp } from './service-app.js';

/** Checks one dependency: resolves true while it answers. */
export type ReadinessCheck = () => Promise<boolean>;

/** What health reports of one consumer group; a bus `Subscription` is one. */
export interface ConsumerStatus {
  readonly groupId: string;
  state(): SubscriptionState;
  /** Records not yet handled per topic, where the transport tells (Kafka); read at each scrape. */
  lag?(): Record<string, number>;
}

/** What `/health/ready` and the health gauges look at. */
export interface HealthOptions {
  /** Dependencies the service cannot serve without (its database): readiness fails while any check fails. */
  readiness?: Record<string, ReadinessCheck> | undefined;
  /**
   * Dependencies reported in `/health/ready` and `/metrics` that never make the service unready (the broker: the outbox
   * keeps writes while it is away, and consumers catch up when it returns; ADR 0024).
   */
  reportOnly?: Record<string, ReadinessCheck> | undefined;
  /** The service's consumer groups as they are now; read at each probe and scrape. */
  consumers?: (() => Iterable<ConsumerStatus | null | undefined>) | undefined;
}

type CheckResult = 'ok' | 'failing';

/**
 * How long one check may take before it counts as failing: half the probes' 2 s timeout, so a slow broker check
 * answers `degraded` in time instead of the kubelet timing the probe out and taking the pod out of its Service.
 */
const CHECK_TIMEOUT_MS = 1_000;

/**
 * Liveness and readiness endpoints. Readiness fails while a `readiness` check fails and from the moment shutdown
 * starts; a failing `reportOnly` check or a consumer group not joined yet leaves the service ready, `degraded`.
 */
export function registerHealth(app: AnyApp, options: HealthOptions): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.get('/health/live', { schema: { hide: true }, logLevel: 'warn', config: { roles: 'public' } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { hide: true }, logLevel: 'warn', config: { roles: 'public' } }, async (_request, reply) => {
    const [required, reported] = await Promise.all([runChecks(options.readiness), runChecks(options.reportOnly)]);
    const consumers = consumerStates(options.consumers);
    const ready = !closing && Object.values(required).every((result) => result === 'ok');
    const degraded =
      Object.values(reported).some((result) => result !== 'ok') || Object.values(consumers).some((state) => state !== 'joined');
    reply.code(ready ? 200 : 503);
    return {
      status: ready ? (degraded ? 'degraded' : 'ok') : closing ? 'shutting-down' : 'unavailable',
      checks: { ...required, ...reported },
      ...(Object.keys(consumers).length > 0 ? { consumers } : {}),
    };
  });
}

/**
 * Gauges of what readiness looks at, read when Prometheus scrapes: `health_check_up{check,required}` per check and
 * `bus_consumer_joined{group}` per consumer group (1 while it is a member of its group, 0 while joining), and
 * `bus_consumer_lag{group,topic}` where the bus tells the lag (Kafka).
 */
export function registerHealthMetrics(app: AnyApp, options: HealthOptions): void {
  new Gauge({
    name: 'health_check_up',
    help: 'Whether each health check passes (1) or fails (0); required="true" checks decide readiness.',
    labelNames: ['check', 'required'],
    registers: [app.metrics],
    async collect() {
      const [required, reported] = await Promise.all([runChecks(options.readiness), runChecks(options.reportOnly)]);
      this.reset();
      for (const [check, result] of Object.entries(required)) this.set({ check, required: 'true' }, result === 'ok' ? 1 : 0);
      for (const [check, result] of Object.entries(reported)) this.set({ check, required: 'false' }, result === 'ok' ? 1 : 0);
    },
  });
  if (!options.consumers) return;
  new Gauge({
    name: 'bus_consumer_joined',
    help: 'Whether each consumer group has joined and consumes (1) or is still joining (0), e.g. while the broker is unreachable.',
    labelNames: ['group'],
    registers: [app.metrics],
    collect() {
      this.reset();
      for (const [group, state] of Object.entries(consumerStates(options.consumers))) this.set({ group }, state === 'joined' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bus_consumer_lag',
    help: 'Records not yet handled by each consumer group, per topic: the highest lag over the partitions this replica consumes.',
    labelNames: ['group', 'topic'],
    registers: [app.metrics],
    collect() {
      this.reset();
      const highest = new Map<string, { group: string; topic: string; lag: number }>();
      for (const consumer of options.consumers?.() ?? []) {
        if (!consumer?.lag || consumer.state() === 'stopped') continue;
        for (const [topic, lag] of Object.entries(consumer.lag())) {
          const key = `${consumer.groupId}\u0000${topic}`;
          const seen = highest.get(key);
          if (!seen || lag > seen.lag) highest.set(key, { group: consumer.groupId, topic, lag });
        }
      }
      for (const { group, topic, lag } of highest.values()) this.set({ group, topic }, lag);
    },
  });
}

async function runChecks(checks: Record<string, ReadinessCheck> | undefined): Promise<Record<string, CheckResult>> {
  const results: Record<string, CheckResult> = {};
  await Promise.all(
    Object.entries(checks ?? {}).map(async ([name, check]) => {
      const ok = await withTimeout(check(), CHECK_TIMEOUT_MS).catch(() => false);
      results[name] = ok ? 'ok' : 'failing';
    }),
  );
  return results;
}

/** Each running group's state; a group with several subscriptions in this process is joined only when all are. */
function consumerStates(consumers: HealthOptions['consumers']): Record<string, SubscriptionState> {
  const states: Record<string, SubscriptionState> = {};
  for (const consumer of consumers?.() ?? []) {
    if (!consumer) continue;
    const state = consumer.state();
    if (state === 'stopped') continue;
    if (states[consumer.groupId] !== 'joining') states[consumer.groupId] = state;
  }
  return states;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
