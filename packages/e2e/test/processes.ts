import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@pep/testing';

/** A service running as its own process from its built `dist/main.js`, as in production. */
export interface ServiceProcess {
  name: string;
  url: string;
  /** Everything it printed (JSON log lines). */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `services/<name>/dist/main.js` with the given environment and waits until it is ready; on `port` when given
 * (a URL other services must know before it starts), else on a free one.
 */
export async function startService(name: string, env: Record<string, string>, options: { port?: number } = {}): Promise<ServiceProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL(`../../../services/${name}/dist/main.js`, import.meta.url))], {
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output.slice(-2_000)}`);
        return (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: `${name} becomes ready` },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    name,
    url,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
