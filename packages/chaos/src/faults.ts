import { sleep } from '@pep/testing';
import type { Random } from './random.js';
import { DATABASE_OWNERS, type DistributedRuntime } from './runtime.js';
import { SERVICE_NAMES, type ServiceName } from './service-process.js';

/** The kinds of fault a run injects, one row each in the report. */
export const FAULT_KINDS = [
  'kill -9',
  'broker restart',
  'postgres connections terminated',
  'consumer paused past its session',
  'vendor 500s',
  'vendor timeouts',
] as const;
/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A fault as it happened. */
export interface FaultRecord {
  kind: FaultKind;
  target: string;
  startedAt: number;
  endedAt: number;
  /** The platform came back (the service ready again, the broker serving); false with `detail` saying what did not. */
  recovered: boolean;
  detail: string;
}

/** A fault to inject: what it hits, and how long it lasts where that applies. */
export interface PlannedFault {
  kind: FaultKind;
  target: string;
}

/** Kafka's default session timeout in the services' consumers: a consumer frozen longer is dropped from its group. */
const SESSION_TIMEOUT_MS = 30_000;

/**
 * The faults of one round, in a seeded order: every service killed in turn, the broker restarted (when this run owns
 * it), each service's Postgres connections terminated (the machine's shared Postgres server is never restarted: ending
 * the backends is what a restart does to the services), a consumer frozen until its group rebalances, the SMS vendor
 * failing for a while with 500s and then with timeouts.
 */
export function faultRound(random: Random, options: { brokerOwned: boolean; everyDatabase: boolean }): PlannedFault[] {
  const kills = random.shuffle(SERVICE_NAMES).map((target): PlannedFault => ({ kind: 'kill -9', target }));
  const databases = options.everyDatabase ? random.shuffle(DATABASE_OWNERS) : [DATABASE_OWNERS[random.int(DATABASE_OWNERS.length)]!];
  const others: PlannedFault[] = [
    ...databases.map((target): PlannedFault => ({ kind: 'postgres connections terminated', target })),
    { kind: 'consumer paused past its session', target: (['messaging', 'scheduling', 'patients'] as const)[random.int(3)]! },
    { kind: 'vendor 500s', target: 'twilio' },
    { kind: 'vendor timeouts', target: 'twilio' },
    ...(options.brokerOwned ? [{ kind: 'broker restart', target: 'kafka' } as PlannedFault] : []),
  ];
  // Kills interleaved with the other faults, so each kill meets a different state of the platform.
  const round: PlannedFault[] = [];
  const shuffled = random.shuffle(others);
  for (let index = 0; index < Math.max(kills.length, shuffled.length); index++) {
    if (kills[index]) round.push(kills[index]!);
    if (shuffled[index]) round.push(shuffled[index]!);
  }
  return round;
}

/** Injects faults into a running platform and records what happened. */
export class FaultInjector {
  readonly records: FaultRecord[] = [];
  private readonly pending: Promise<void>[] = [];

  constructor(
    private readonly runtime: DistributedRuntime,
    private readonly log: (line: string) => void,
    private readonly timing: { vendorFaultMs: number; brokerDownMs: number; restartTimeoutMs: number },
    /** Runs just before a fault, to have work in flight when it strikes (reminders coming due before messaging is killed). */
    private readonly beforeFault: (fault: PlannedFault) => Promise<void> = async () => undefined,
  ) {}

  /** Injects one fault and waits until the platform is whole again (or the restart bound passes). */
  async inject(fault: PlannedFault): Promise<FaultRecord> {
    const record: FaultRecord = { ...fault, startedAt: Date.now(), endedAt: 0, recovered: true, detail: '' };
    this.records.push(record);
    this.log(`fault: ${fault.kind} ${fault.target}`);
    try {
      await this.beforeFault(fault);
      switch (fault.kind) {
        case 'kill -9': {
          const name = fault.target as ServiceName;
          await this.runtime.kill(name);
          await sleep(1_000);
          const restarted = Date.now();
          await this.runtime.restart(name, this.timing.restartTimeoutMs);
          record.detail = `ready again ${((Date.now() - restarted) / 1_000).toFixed(1)} s after restart`;
          break;
        }
        case 'broker restart': {
          const kafka = this.runtime.kafka!;
          await kafka.stop();
          await sleep(this.timing.brokerDownMs);
          await kafka.start();
          const back = Date.now();
          await this.waitAllReady();
          record.detail = `down ${(this.timing.brokerDownMs / 1_000).toFixed(0)} s; services ready ${((Date.now() - back) / 1_000).toFixed(1)} s after`;
          break;
        }
        case 'postgres connections terminated': {
          const ended = await this.runtime.terminateConnections(fault.target as (typeof DATABASE_OWNERS)[number]);
          await this.waitAllReady();
          record.detail = `${ended} backends ended`;
          break;
        }
        case 'consumer paused past its session': {
          // The freeze runs on while the next faults strike; settle() waits for its end and the service's return.
          const service = this.runtime.services[fault.target as ServiceName];
          service.pause();
          record.detail = `frozen ${(SESSION_TIMEOUT_MS + 5_000) / 1_000} s (session timeout ${SESSION_TIMEOUT_MS / 1_000} s)`;
          this.pending.push(
            (async () => {
              await sleep(SESSION_TIMEOUT_MS + 5_000);
              service.resume();
              await service.waitReady(this.timing.restartTimeoutMs);
            })().catch((error: unknown) => {
              record.recovered = false;
              record.detail += `; ${(error as Error).message.split('\n')[0]}`;
            }),
          );
          break;
        }
        case 'vendor 500s':
        case 'vendor timeouts': {
          const twilio = this.runtime.twilio!;
          const before = twilio.faulted;
          twilio.fault = fault.kind === 'vendor 500s' ? 'error' : 'timeout';
          await sleep(this.timing.vendorFaultMs);
          twilio.fault = 'none';
          record.detail = `${twilio.faulted - before} requests failed over ${this.timing.vendorFaultMs / 1_000} s`;
          break;
        }
      }
    } catch (error) {
      record.recovered = false;
      record.detail = (error as Error).message.split('\n')[0] ?? 'failed';
      this.log(`fault ${fault.kind} ${fault.target} did not recover: ${(error as Error).message.slice(0, 4_000)}`);
    }
    record.endedAt = Date.now();
    return record;
  }

  /** Waits for faults still running (a frozen consumer) to end. */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }

  /** Every service ready (each within the restart bound), starting any that is not running. */
  async waitAllReady(): Promise<void> {
    for (const service of Object.values(this.runtime.services)) {
      if (!service.running) await this.runtime.restart(service.name, this.timing.restartTimeoutMs);
      else await service.waitReady(this.timing.restartTimeoutMs);
    }
  }
}
