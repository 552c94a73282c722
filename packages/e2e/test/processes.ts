import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, guardResources, waitFor } from '@pep/testing';

/**
 * What {@link startService} waits for: `settled` (the default) is ready with the broker reachable and every consumer
 * group joined, as the tests that follow expect; `ready` is `/health/ready` answering 200 (the database reachable);
 * `live` is `/health/live` answering 200.
 */
export type StartedWhen = 'settled' | 'ready' | 'live';

/** A service running as its own process from its built `dist/main.js`, as in production. */
export interface ServiceProcess {
  name: string;
  url: string;
  port: number;
  /** Everything it printed (JSON log lines). */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as `kill -9`: no shutdown at all; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the same command again (same environment and port), e.g. after {@link kill}. */
  restart(options?: { until?: StartedWhen }): Promise<ServiceProcess>;
}

/** Settings production requires that these tests leave open: a gateway must be told its CORS origins (any, here). */
const PRODUCTION_REQUIRED: Record<string, Record<string, string>> = { gateway: { CORS_ORIGINS: '*' } };

/** Every process started here and not yet exited, so a failed start or test leaves none behind. */
const running = new Set<ChildProcess>();

/**
 * Starts `services/<name>/dist/main.js` with the given environment and waits until it is `until` (default `settled`);
 * on `port` when given (a URL other services must know before it starts), else on a free one. A process that does not
 * get there is killed before this rejects.
 */
export async function startService(
  name: string,
  env: Record<string, string>,
  options: { port?: number; until?: StartedWhen } = {},
): Promise<ServiceProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL(`../../../services/${name}/dist/main.js`, import.meta.url))], {
    env: {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      // No migration Job runs before these tests start services: topics are created on first use unless a test asks for verify.
      KAFKA_TOPICS: 'create',
      ...PRODUCTION_REQUIRED[name],
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Killed when the test process exits, however it exits (a crashed worker included).
  const guard = guardResources(undefined);
  guard.watch(child);
  running.add(child);
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      guard.release();
      resolve(code);
    }),
  );
  const until = options.until ?? 'settled';
  // A process that exits while starting fails the start at once, instead of after the whole wait.
  const exitedEarly = exited.then((code) => {
    throw new Error(`${name} exited with ${code ?? child.signalCode}:\n${output.slice(-2_000)}`);
  });
  try {
    const becameReady = waitFor(
      async () => {
        // Exited: exitedEarly has already failed the start; stop asking a port nobody listens on.
        if (child.exitCode !== null || child.signalCode !== null) return true;
        if (until === 'live') return (await fetch(`${url}/health/live`).catch(() => null))?.status === 200;
        const ready = await fetch(`${url}/health/ready`).catch(() => null);
        if (ready?.status !== 200) return false;
        return until === 'ready' || ((await ready.json()) as { status?: string }).status === 'ok';
      },
      { timeoutMs: 90_000, intervalMs: 250, message: `${name} becomes ${until}` },
    );
    await Promise.race([becameReady, exitedEarly]);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  const started: ServiceProcess = {
    name,
    url,
    port,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart: (again = {}) => startService(name, env, { port, ...again }),
  };
  return started;
}

/** Stops every process still running (SIGTERM, then SIGKILL after `graceMs`): for afterAll, whatever happened before. */
export async function stopAll(graceMs = 20_000): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
