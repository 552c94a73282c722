import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './wait-for.js';

/** The Apache Kafka release the local broker runs (3.9.x: Kafka 4 dropped protocol versions kafkajs uses). */
export const KAFKA_VERSION = '3.9.1';

// src/ and dist/ both sit one level below the package root, next to kafka/.
const POM = fileURLToPath(new URL('../kafka/pom.xml', import.meta.url));
const MARKER = '.complete';
const LOCK_WAIT_MS = 10 * 60_000;

/** Where the broker's jars are cached: `$PEP_CACHE_DIR/kafka-<v>`, else `${XDG_CACHE_HOME:-~/.cache}/patient-engagement-platform/kafka-<v>`. */
export function kafkaCacheDir(): string {
  const root =
    process.env.PEP_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'patient-engagement-platform');
  return path.join(root, `kafka-${KAFKA_VERSION}`);
}

/** Returns a directory holding Kafka's runtime jars, fetching them from Maven Central once per machine. */
export async function ensureKafkaJars(): Promise<string> {
  const cacheDir = kafkaCacheDir();
  const libs = path.join(cacheDir, 'libs');
  // The marker holds the pom's digest, so editing the pom (another version) refreshes the cache.
  const digest = createHash('sha256')
    .update(await readFile(POM))
    .digest('hex');
  if (await isComplete(libs, digest)) return libs;

  await mkdir(cacheDir, { recursive: true });
  const unlock = await lock(path.join(cacheDir, '.lock'));
  try {
    if (await isComplete(libs, digest)) return libs;
    process.stderr.write(`[@pep/testing] downloading Apache Kafka ${KAFKA_VERSION} jars with Maven into ${libs}\n`);
    // Download beside the cache and rename into place: readers never see a half-filled libs/.
    const work = await mkdtemp(path.join(cacheDir, 'download-'));
    try {
      const pom = path.join(work, 'pom.xml');
      const out = path.join(work, 'libs');
      await copyFile(POM, pom);
      await runMaven(['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${out}`], work);
      const jars = await readdir(out);
      if (!jars.includes(`kafka_2.13-${KAFKA_VERSION}.jar`)) {
        throw new Error(`Maven finished but ${out} lacks kafka_2.13-${KAFKA_VERSION}.jar (got: ${jars.join(', ')})`);
      }
      await writeFile(path.join(out, MARKER), digest);
      await rm(libs, { recursive: true, force: true });
      await rename(out, libs);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return libs;
  } finally {
    await unlock();
  }
}

async function isComplete(libs: string, digest: string): Promise<boolean> {
  try {
    return (await readFile(path.join(libs, MARKER), 'utf8')).trim() === digest;
  } catch {
    return false;
  }
}

function runMaven(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.MAVEN_CMD || 'mvn', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) =>
      reject(
        new Error(
          `Cannot run Maven (${error.message}). The local Kafka broker needs Java 17+ and Maven to fetch ` +
            `org.apache.kafka:kafka_2.13:${KAFKA_VERSION}; install them, or set KAFKA_BROKERS to an existing broker.`,
        ),
      ),
    );
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`mvn ${args.join(' ')} exited with ${code}:\n${output.trim()}`)),
    );
  });
}

/** Cross-process mutex on a file: only one test process downloads, the others wait for its result. */
async function lock(file: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(file)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${file}; delete it if no download is running`);
    await sleep(250);
  }
}

async function isStale(file: string): Promise<boolean> {
  try {
    const pid = Number.parseInt(await readFile(file, 'utf8'), 10);
    if (!Number.isInteger(pid) || pid <= 0) {
      // The owner may be between creating and writing the file; only an old empty lock is abandoned.
      return Date.now() - (await stat(file)).mtimeMs > 30_000;
    }
    process.kill(pid, 0);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ESRCH' || code === 'ENOENT';
  }
}
