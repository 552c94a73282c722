import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { buildApp as buildGateway } from '@pep/gateway';
import * as patients from '@pep/patients';
import type { Logger, ServiceApp } from '@pep/service-kit';

/** What {@link startPlatform} needs. */
export interface PlatformOptions {
  dataDir: string;
  host: string;
  port: number;
  logger: Logger;
  internalAuthSecret?: string | undefined;
  bodyLimit?: number;
}

/** A running embedded platform. */
export interface RunningPlatform {
  /** The gateway's base URL. */
  url: string;
  /** Each service's own loopback URL, behind the gateway. */
  services: Record<string, string>;
  /** Stops the gateway first (no new requests), then each service, the bus and the databases. */
  stop(): Promise<void>;
}

/**
 * Starts every service in this process, each on its own PGlite database and HTTP port on
 * loopback, all sharing one in-process bus, behind the gateway: the same code as production,
 * with only the transports swapped.
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const secret = options.internalAuthSecret ?? (await persistentSecret(join(dataDir, 'internal-auth-secret')));
  const bus = new InProcessBus({ dataDir: join(dataDir, 'bus') });
  const databases: Database[] = [];
  const services: ServiceApp[] = [];
  const upstreams: Record<string, string> = {};

  try {
    const database = await openDatabase({ kind: 'pglite', dataDir: join(dataDir, 'patients') });
    databases.push(database);
    await migrate(database, { migrationsDir: patients.migrationsDir, logger: options.logger });
    const app = await patients.buildApp({
      logger: options.logger.child({ service: 'patients' }),
      database,
      bus,
      internalAuthSecret: secret,
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    });
    services.push(app);
    upstreams['patients'] = await app.listen({ host: '127.0.0.1', port: 0 });

    const gateway = await buildGateway({
      logger: options.logger.child({ service: 'gateway' }),
      upstreams,
      internalAuthSecret: secret,
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    });
    services.unshift(gateway);
    const url = await gateway.listen({ host: options.host, port: options.port });
    return { url, services: upstreams, stop: () => stopAll(services, bus, databases) };
  } catch (error) {
    await stopAll(services, bus, databases);
    throw error;
  }
}

async function stopAll(services: ServiceApp[], bus: InProcessBus, databases: Database[]): Promise<void> {
  for (const service of services) await service.close();
  await bus.close();
  for (const database of databases) await database.close();
}

async function persistentSecret(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    await writeFile(path, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}
