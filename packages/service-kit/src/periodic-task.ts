import { outsideTraces } from '@pep/bus';

/**
 * Background work done in rounds: on its own every `intervalMs` (null: only when {@link runOnce} is called, as tests
 * do), one round at a time (a call during a round joins it), the next round timed from the end of the last so a slow
 * round never overlaps itself. A failed round is reported and the next one runs as planned.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    /** One round; answers how much it did. */
    private readonly round: () => Promise<number>,
    private readonly intervalMs: number | null,
    /** Told of a round that failed on its own schedule (with no caller to tell). */
    private readonly failed: (error: Error) => void,
  ) {}

  /** Runs rounds on their own from now on (unless the interval is null). */
  start(): void {
    const every = this.intervalMs;
    if (every === null || this.timer) return;
    const tick = () => {
      void this.runOnce()
        .catch((error: unknown) => this.failed(error as Error))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, every);
        });
    };
    this.timer = setTimeout(tick, every);
  }

  /** Stops the rounds and waits for one in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /**
   * Runs a round now, or joins the one in flight; answers how much it did. A round serves all that is due, whoever
   * asked for it, so it never runs under the caller's trace (a request that woke a broadcast would otherwise hold
   * every text of it).
   */
  runOnce(): Promise<number> {
    this.running ??= outsideTraces(() => this.round()).finally(() => {
      this.running = null;
    });
    return this.running;
  }
}

/**
 * Starts `round` every `intervalMs` as a {@link PeriodicTask} and answers what stops it (and waits for a round in
 * flight): the shape `background(...)` takes.
 */
export function runPeriodically(round: () => Promise<unknown>, intervalMs: number, failed: (error: Error) => void): () => Promise<void> {
  const task = new PeriodicTask(
    async () => {
      await round();
      return 1;
    },
    intervalMs,
    failed,
  );
  task.start();
  return () => task.stop();
}
