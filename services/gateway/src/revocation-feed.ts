import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Bus, Subscription } from '@pep/bus';
import {
  ACCESS_REVOCATIONS_PATH,
  accessRevocationsSnapshotSchema,
  parseEvent,
  REVOCATIONS_READER_ROLE,
  type EventEnvelope,
} from '@pep/contracts';
import { IDENTITY_HEADER, signIdentity, type Logger } from '@pep/service-kit';
import { request as undiciRequest } from 'undici';
import { BillingSuspensions } from './billing-suspensions.js';
import { REVOCATION_TOPICS, revocationOf, RevocationList } from './revocations.js';

/** What the revocation feed needs. */
export interface RevocationFeedOptions {
  bus: Bus;
  /** Base URL of the auth service, which serves the current revocations. */
  authUrl: string;
  internalAuthSecret: string;
  logger: Logger;
  /** How often the snapshot is reloaded and the bus checked (default 15 s). */
  refreshIntervalMs?: number;
  /** How long the feed may go unconfirmed before tokens are refused with 503 (default 60 s; see ADR 0014). */
  maxStalenessMs?: number;
  /** Names this replica's consumer group; unique per process by default. */
  replicaId?: string;
  /** Called for each applied event, by type (metrics). */
  onEvent?: (type: string) => void;
  now?: () => number;
}

/**
 * Keeps one gateway replica's {@link RevocationList} current: it follows auth's events in a consumer group of its own (so
 * every replica sees every revocation), and loads auth's snapshot at start and on every refresh, which also covers what
 * was published while the bus was unreachable or before this replica joined.
 */
export class RevocationFeed {
  readonly list = new RevocationList();
  /** Organizations suspended for an unpaid bill, from the same events and snapshot (their writes answer 402). */
  readonly billing = new BillingSuspensions();
  /** This replica's consumer group. */
  readonly groupId: string;
  private subscription: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private confirmedAt: number | null = null;
  private lifetimeMs = 15 * 60_000;
  private busUp = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: RevocationFeedOptions) {
    this.now = options.now ?? Date.now;
    const replica = options.replicaId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.groupId = `gateway.revocations.${replica.replace(/[^\w.-]/g, '-')}`;
  }

  /**
   * Subscribes (the group is joined in the background), then refreshes on a timer: the feed is confirmed by a snapshot
   * loaded after the group was joined, so every event is in the snapshot or delivered. Returns at once; until then
   * tokens are refused (fail closed).
   */
  async start(): Promise<void> {
    try {
      await this.subscribe();
    } catch (error) {
      // Only a closed bus refuses to subscribe; every refresh tries again and the feed stays unconfirmed meanwhile.
      this.options.logger.warn({ err: { message: (error as Error).message } }, 'revocation events not followed yet');
    }
    const schedule = () => {
      if (this.stopped) return;
      // Until the feed is confirmed (auth or the broker still starting) it retries every second.
      const interval = this.options.refreshIntervalMs ?? 15_000;
      this.timer = setTimeout(() => void this.refresh().finally(schedule), this.isCurrent() ? interval : Math.min(1_000, interval));
      this.timer.unref();
    };
    void this.refresh().finally(schedule);
  }

  /** This replica's subscription to auth's events, once made (its state says whether it has joined). */
  get consumer(): Subscription | null {
    return this.subscription;
  }

  /** Whether the feed is confirmed live: the snapshot was loaded recently and the bus is reachable. */
  isCurrent(): boolean {
    return this.confirmedAt !== null && this.busUp && this.now() - this.confirmedAt <= (this.options.maxStalenessMs ?? 60_000);
  }

  /** Stops following events. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.subscription?.stop();
  }

  private async subscribe(): Promise<void> {
    if (this.subscription || this.stopped) return;
    const subscription = await this.options.bus.subscribe({
      groupId: this.groupId,
      topics: REVOCATION_TOPICS,
      // A new replica starts from now: what came before is in the snapshot.
      fromBeginning: false,
      handler: async (message) => {
        // An event that cannot be read is skipped, never retried nor dead-lettered: this replica's group is its own, so
        // no dead-letter topic can be declared for it, and the next snapshot refresh brings whatever it carried.
        let event: EventEnvelope;
        try {
          event = parseEvent(message.value);
        } catch (error) {
          this.options.logger.warn({ err: { message: (error as Error).message }, topic: message.topic }, 'unreadable auth event skipped');
          return;
        }
        if (this.billing.applyEvent(event)) this.options.onEvent?.('billing-suspension');
        const revocation = revocationOf(event);
        if (!revocation) return;
        this.list.add(revocation);
        this.options.onEvent?.(event.type);
      },
    });
    this.subscription = subscription;
    // stop() may have come while subscribing; it found nothing to stop then.
    if (this.stopped) await subscription.stop();
  }

  /** Reloads the snapshot and checks the bus; a failure leaves the feed unconfirmed until the next success. */
  async refresh(): Promise<void> {
    try {
      this.busUp = await this.options.bus.healthy();
      if (!this.subscription) await this.subscribe();
      // Joined before the snapshot was asked for: an event the group's "from now" start missed is in the snapshot.
      const joined = this.subscription?.state() === 'joined';
      const snapshot = await this.loadSnapshot();
      for (const revocation of snapshot.revocations) this.list.add(revocation);
      this.billing.applySnapshot(snapshot);
      this.lifetimeMs = snapshot.tokenLifetimeSeconds * 1000;
      this.list.forgetBefore(this.now() - this.lifetimeMs - 60_000);
      if (this.busUp && joined) this.confirmedAt = this.now();
    } catch (error) {
      this.options.logger.warn({ err: { message: (error as Error).message } }, 'revocation snapshot not loaded');
    }
  }

  private async loadSnapshot() {
    const identity = await signIdentity(this.options.internalAuthSecret, {
      organization: 'platform',
      user: 'gateway',
      roles: [REVOCATIONS_READER_ROLE],
    });
    const response = await undiciRequest(`${this.options.authUrl}${ACCESS_REVOCATIONS_PATH}`, {
      headers: { [IDENTITY_HEADER]: identity },
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
    });
    const body = await response.body.json();
    if (response.statusCode !== 200) throw new Error(`auth answered ${response.statusCode}`);
    return accessRevocationsSnapshotSchema.parse(body);
  }
}
