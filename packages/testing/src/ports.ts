import net from 'node:net';
import { sleep } from './wait-for.js';

const HOST = '127.0.0.1';

/** Resolves true when nothing listens on `port` of 127.0.0.1, i.e. a server could bind it now. */
export function isPortFree(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Picks a port that is free now. Ports are drawn below the usual ephemeral ranges (Linux starts at 32768,
 * macOS at 49152) so a stopped broker's port is not taken by some outgoing connection before it restarts.
 */
export async function freePort(exclude: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!exclude.includes(port) && (await isPortFree(port))) return port;
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves true when a TCP connection to host:port is accepted within `timeoutMs`. */
export function canConnect(port: number, host = HOST, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits (bounded) until `port` can be bound again; throws `problem` (or a generic message) when it stays taken. */
export async function waitForPortFree(port: number, timeoutMs = 10_000, problem?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isPortFree(port))) {
    if (Date.now() > deadline) throw new Error(problem ?? `Port ${port} on ${HOST} is still in use after ${timeoutMs} ms`);
    await sleep(100);
  }
}
