import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { guardResources, sleep, waitFor, type ProcessGuard } from '@pep/testing';

/** The platform's services, in the order they are started (the gateway last, it routes to the others). */
export const SERVICE_NAMES = ['auth', 'patients', 'scheduling', 'messaging', 'billing', 'gateway'] as const;
/** One of {@link SERVICE_NAMES}. */
export type ServiceName = (typeof SERVICE_NAMES)[number];

const OUTPUT_LIMIT = 200_000;
/** How long the runner waits for one readiness answer. */
const READY_PROBE_TIMEOUT_MS = 5_000;

/**
 * A service running as its own process from its built `dist/main.js`, on a fixed port, that can be killed (-9),
 * paused and started again with the same environment, as an orchestrator would.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';
  private readonly guard: ProcessGuard;
  /** How many times the process was started. */
  starts = 0;

  constructor(
    readonly name: ServiceName,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.guard = guardResources(undefined);
  }

  /** The service's base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** True while the process runs. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** The last part of what the process printed (JSON log lines), across restarts. */
  output(): string {
    return this.log;
  }

  /** Spawns the process; with `ready`, waits until `/health/ready` answers 200 (bounded by `timeoutMs`). */
  async start(options: { ready?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.running) return;
    const entry = fileURLToPath(new URL(`../../../services/${this.name}/dist/main.js`, import.meta.url));
    const child = spawn(process.execPath, [entry], {
      env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(this.port), LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.starts += 1;
    const append = (chunk: Buffer) => {
      this.log += chunk.toString('utf8');
      if (this.log.length > OUTPUT_LIMIT) this.log = this.log.slice(-OUTPUT_LIMIT / 2);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    this.guard.watch(child);
    if (options.ready !== false) await this.waitReady(options.timeoutMs ?? 120_000);
  }

  /**
   * Waits until the running process answers ready; throws with its log tail and its last readiness answer when it
   * exits or the bound passes.
   */
  async waitReady(timeoutMs: number): Promise<void> {
    let last = 'no answer yet';
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`${this.name} exited:\n${this.log.slice(-3_000)}`);
        // Longer than the service gives each of its checks (2 s): an answer held up by a slow report-only check (the
        // broker) is still an answer, and a ready service is not taken for a dead one.
        const response = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(READY_PROBE_TIMEOUT_MS) }).catch(
          (error: unknown) => {
            last = `probe failed: ${(error as Error).name}`;
            return null;
          },
        );
        if (response) last = `${response.status} ${(await response.text().catch(() => '')).slice(0, 300)}`;
        return response?.status === 200;
      },
      { timeoutMs, intervalMs: 250, message: `${this.name} becomes ready` },
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}; last readiness answer: ${last}\n--- ${this.name} log tail ---\n${this.log.slice(-3_000)}`,
        { cause: error },
      );
    });
  }

  /** SIGKILL: the process dies wherever it is (mid-transaction, mid-relay, mid-dispatch). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP / SIGCONT: the process freezes (no heartbeats, no work) until resumed. */
  pause(): void {
    if (this.running) this.child!.kill('SIGSTOP');
  }

  /** Resumes a paused process. */
  resume(): void {
    if (this.running) this.child!.kill('SIGCONT');
  }

  /** SIGTERM (a paused process is resumed first so it can handle it), then SIGKILL after `graceMs`; resolves when gone. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGCONT');
    this.child!.kill('SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!stopped) await this.kill();
  }
}
