import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureKafkaJars } from './kafka-jars.js';
import { waitForKafka } from './kafka-ready.js';
import { freePort, waitForPortFree } from './ports.js';
import { guardResources, type ProcessGuard } from './process-guard.js';

/** Options for {@link LocalKafkaBroker.start}. */
export interface LocalKafkaBrokerOptions {
  /** PLAINTEXT port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /**
   * Adds a SASL_SSL listener on a second port, as managed clusters expose: TLS with a throwaway CA and SCRAM-SHA-512
   * (and OAUTHBEARER with unsigned tokens, Kafka's development validator). The PLAINTEXT listener stays for the rest.
   */
  saslSsl?: boolean;
}

/** How a client reaches the SASL_SSL listener of a {@link LocalKafkaBroker} started with `saslSsl`. */
export interface LocalKafkaSaslListener {
  /** Bootstrap addresses of the SASL_SSL listener. */
  brokers: string[];
  /** PEM file of the CA that signed the broker's certificate (for IP 127.0.0.1 and `localhost`). */
  caFile: string;
  /** The SCRAM-SHA-512 user created at format time. */
  username: string;
  password: string;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 15_000;
const JVM_OPTIONS = [
  '-Xms256m',
  '-Xmx512m',
  // Short-lived test broker on two cores: C1-only JIT starts faster, and peak throughput does not matter.
  '-XX:TieredStopAtLevel=1',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# One INFO line per start/stop, so a failing start's log tail shows how far the broker got.
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka$=INFO
`;

interface SpawnedJava {
  child: ChildProcess;
  /** Resolves with the exit code; rejects when java could not be started at all. */
  exited: Promise<number | null>;
  /** Why the process ended, once it has. */
  failure: () => string | undefined;
}

interface Layout {
  libs: string;
  dataDir: string;
  port: number;
  controllerPort: number;
  /** The SASL_SSL listener's port and the secrets of its keystore and user, when asked for. */
  sasl?: { port: number; storePassword: string; username: string; password: string };
}

const run = promisify(execFile);

/**
 * A real Apache Kafka broker (KRaft, broker+controller in one JVM) run from jars cached via Maven.
 * It can be stopped and started again on the same port and data directory to simulate an outage.
 */
export class LocalKafkaBroker {
  /** Bootstrap addresses for Kafka clients, e.g. `['127.0.0.1:23456']`. */
  readonly brokers: string[];
  /** The broker's scratch directory (data, config, `broker.log`); removed by {@link destroy}. */
  readonly dataDir: string;
  /** The SASL_SSL listener, when the broker was started with `saslSsl`. */
  readonly saslSsl: LocalKafkaSaslListener | undefined;
  private jvm: { child: ChildProcess; ended: Promise<unknown> } | undefined;
  private destroyed = false;
  private readonly guard: ProcessGuard;

  private constructor(private readonly layout: Layout) {
    this.brokers = [`${HOST}:${layout.port}`];
    this.dataDir = layout.dataDir;
    this.saslSsl = layout.sasl && {
      brokers: [`${HOST}:${layout.sasl.port}`],
      caFile: path.join(layout.dataDir, 'tls', 'ca.pem'),
      username: layout.sasl.username,
      password: layout.sasl.password,
    };
    this.guard = guardResources(layout.dataDir);
  }

  /** Formats fresh storage in a new temp directory and starts a broker; resolves once it serves requests. */
  static async start(options: LocalKafkaBrokerOptions = {}): Promise<LocalKafkaBroker> {
    const libs = await ensureKafkaJars();
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      const controllerPort = await freePort([port]);
      const sasl = options.saslSsl
        ? {
            port: await freePort([port, controllerPort]),
            storePassword: randomBytes(12).toString('hex'),
            username: 'pep-test',
            password: randomBytes(12).toString('hex'),
          }
        : undefined;
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pep-kafka-'));
      const broker = new LocalKafkaBroker({ libs, dataDir, port, controllerPort, ...(sasl ? { sasl } : {}) });
      try {
        if (sasl) await broker.writeKeystore();
        await broker.writeConfig();
        await broker.format();
        await broker.start();
        return broker;
      } catch (error) {
        await broker.destroy().catch(() => undefined);
        // Another process may grab a port between our check and the JVM's bind; only then is a retry useful.
        const portRace = error instanceof Error && /Address already in use|BindException|in use by another process/.test(error.message);
        if (portRace && attempt < 3 && options.port === undefined) continue;
        throw error;
      }
    }
  }

  /** The PLAINTEXT port clients connect to. */
  get port(): number {
    return this.layout.port;
  }

  /** True while the broker JVM runs. */
  get running(): boolean {
    return this.jvm !== undefined;
  }

  /** (Re)starts the JVM on the same ports and data directory; resolves once the broker serves requests. */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error('LocalKafkaBroker was destroyed');
    if (this.jvm) return;
    // Short bound: right after our own stop() the ports are already free; anything longer is another process.
    await Promise.all(
      this.ports().map((port) =>
        waitForPortFree(port, 2_000, `Port ${port} on ${HOST} is in use by another process; Kafka cannot listen there`),
      ),
    );
    const { child, exited, failure } = await this.spawnJava(['kafka.Kafka', this.propertiesFile]);
    const ended = exited.catch(() => undefined);
    const current = { child, ended };
    this.jvm = current;
    void ended.then(() => {
      if (this.jvm === current) this.jvm = undefined;
    });
    this.guard.watch(child);
    // A running broker alone must not keep Node alive: a script or worker that is done exits, and the exit
    // hook takes the JVM down with it.
    child.unref();
    try {
      await waitForKafka(this.brokers, {
        timeoutMs: READY_TIMEOUT_MS,
        failure: () => {
          const reason = failure();
          return reason && `Kafka broker stopped during startup: ${reason}`;
        },
      });
    } catch (error) {
      await this.stop().catch(() => undefined);
      throw new Error(`${(error as Error).message}\n--- tail of ${this.logFile} ---\n${await this.logTail()}`, {
        cause: error,
      });
    }
  }

  /** Stops the JVM (SIGTERM, then SIGKILL after a bound) and waits until its ports are free; keeps the data. */
  async stop(): Promise<void> {
    const running = this.jvm;
    if (!running) return;
    const { child, ended } = running;
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      // Hold the event loop open until the exit is observed, so the port check below really runs.
      child.ref();
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceful = await Promise.race([
        ended.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!graceful) {
        child.kill('SIGKILL');
        await ended;
      }
    }
    this.jvm = undefined;
    // Callers rely on the port being reusable at once (restart on the same port, "broker is down" assertions).
    await Promise.all(
      this.ports().map((port) =>
        waitForPortFree(port, 10_000, `Port ${port} on ${HOST} is still in use 10 s after the Kafka broker exited`),
      ),
    );
  }

  /** Stops the broker and deletes its data directory; the instance cannot be started again. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.stop();
    } finally {
      this.destroyed = true;
      this.guard.release();
      await rm(this.layout.dataDir, { recursive: true, force: true });
    }
  }

  /** The last `bytes` of the broker's console log, for error messages. */
  async logTail(bytes = 6_000): Promise<string> {
    try {
      const text = await readFile(this.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '(no broker log)';
    }
  }

  private ports(): number[] {
    return [this.layout.port, this.layout.controllerPort, ...(this.layout.sasl ? [this.layout.sasl.port] : [])];
  }

  private get logFile(): string {
    return path.join(this.layout.dataDir, 'broker.log');
  }

  private get propertiesFile(): string {
    return path.join(this.layout.dataDir, 'server.properties');
  }

  /** Runs java with the broker's classpath, output appended to the broker log; failure() explains an early end. */
  private async spawnJava(args: string[]): Promise<SpawnedJava> {
    const log = await open(this.logFile, 'a');
    let reason: string | undefined;
    let child: ChildProcess;
    let exited: Promise<number | null>;
    try {
      // The JVM writes straight to the log file: no pipe that would need draining or keep Node alive.
      child = spawn(this.java(), [...this.jvmArgs(), ...args], {
        cwd: this.layout.dataDir,
        stdio: ['ignore', log.fd, log.fd],
      });
      // Listeners go on before any await: a missing java binary is reported on the next tick.
      exited = new Promise((resolve, reject) => {
        child.once('error', (error) => {
          reason = `cannot run ${this.java()} (${error.message}); the local Kafka broker needs Java 17+ on PATH or JAVA_HOME`;
          reject(new Error(reason));
        });
        child.once('exit', (code, signal) => {
          reason = `java exited with code ${code ?? 'none'}, signal ${signal ?? 'none'}`;
          resolve(code);
        });
      });
      exited.catch(() => undefined);
    } finally {
      await log.close();
    }
    return { child, exited, failure: () => reason };
  }

  private java(): string {
    return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  }

  private jvmArgs(): string[] {
    return [
      ...JVM_OPTIONS,
      `-Dlog4j.configuration=file:${path.join(this.layout.dataDir, 'log4j.properties')}`,
      '-cp',
      `${this.layout.libs}${path.sep}*`,
    ];
  }

  /**
   * A throwaway CA and a broker keystore (PKCS12) holding a certificate it signed for 127.0.0.1 and localhost, made
   * with the JDK's keytool, which the broker's own JVM guarantees is there.
   */
  private async writeKeystore(): Promise<void> {
    const { sasl, dataDir } = this.layout;
    if (!sasl) return;
    const dir = path.join(dataDir, 'tls');
    await mkdir(dir);
    // keytool's command lines, in order: each reads what an earlier one wrote, by a name relative to `dir`, where
    // keytool runs. No argument holds a space, so each splits on them.
    const generate = '-genkeypair -keyalg RSA -keysize 2048 -validity 2 -storetype PKCS12';
    const steps = [
      `${generate} -alias ca -dname CN=pep-test-ca -ext bc:c -keystore ca.p12`,
      '-exportcert -rfc -alias ca -keystore ca.p12 -file ca.pem',
      `${generate} -alias broker -dname CN=localhost -keystore broker.p12`,
      '-certreq -alias broker -keystore broker.p12 -file broker.csr',
      '-gencert -rfc -alias ca -keystore ca.p12 -infile broker.csr -outfile broker.pem -ext SAN=ip:127.0.0.1,dns:localhost -validity 2',
      // The chain goes in CA first, so keytool can link the signed reply to it.
      '-importcert -noprompt -alias ca -keystore broker.p12 -file ca.pem',
      '-importcert -alias broker -keystore broker.p12 -file broker.pem',
    ];
    for (const step of steps) {
      const args = step.split(' ');
      // Kept out of the split lines, so the password stays one argument whatever it holds; only a new key takes -keypass.
      const secrets = ['-storepass', sasl.storePassword, ...(args[0] === '-genkeypair' ? ['-keypass', sasl.storePassword] : [])];
      await run(this.keytool(), [...args, ...secrets], { cwd: dir, timeout: 60_000 });
    }
  }

  private keytool(): string {
    return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
  }

  /** Settings of the SASL_SSL listener; none without one. */
  private saslProperties(): string[] {
    const { sasl, dataDir } = this.layout;
    if (!sasl) return [];
    return [
      'sasl.enabled.mechanisms=SCRAM-SHA-512,OAUTHBEARER',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      // No validator configured: Kafka's unsecured one, which accepts unsigned tokens; enough to prove the client's flow.
      'listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;',
      `listener.name.sasl_ssl.ssl.keystore.location=${path.join(dataDir, 'tls', 'broker.p12')}`,
      'listener.name.sasl_ssl.ssl.keystore.type=PKCS12',
      `listener.name.sasl_ssl.ssl.keystore.password=${sasl.storePassword}`,
      `listener.name.sasl_ssl.ssl.key.password=${sasl.storePassword}`,
    ];
  }

  private async writeConfig(): Promise<void> {
    const { dataDir, port, controllerPort, sasl } = this.layout;
    const saslListener = sasl ? `,SASL_SSL://${HOST}:${sasl.port}` : '';
    const properties = [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@${HOST}:${controllerPort}`,
      `listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}${saslListener}`,
      `advertised.listeners=PLAINTEXT://${HOST}:${port}${saslListener}`,
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${sasl ? ',SASL_SSL:SASL_SSL' : ''}`,
      ...this.saslProperties(),
      `log.dirs=${path.join(dataDir, 'data')}`,
      'num.partitions=3',
      'auto.create.topics.enable=true',
      'offsets.topic.replication.factor=1',
      // Fewer internal partitions than the default 50: quicker first consumer-group and transaction setup.
      'offsets.topic.num.partitions=10',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=10',
      'group.initial.rebalance.delay.ms=0',
      // The default 128 MiB compaction buffer would take a quarter of the small heap.
      'log.cleaner.dedupe.buffer.size=16777216',
      '',
    ].join('\n');
    await writeFile(this.propertiesFile, properties);
    await writeFile(path.join(dataDir, 'log4j.properties'), LOG4J);
  }

  private async format(): Promise<void> {
    const clusterId = kafkaClusterId();
    const { sasl } = this.layout;
    // KRaft keeps SCRAM credentials in the metadata log: the user has to exist from the first start.
    const scram = sasl ? ['--add-scram', `SCRAM-SHA-512=[name=${sasl.username},password=${sasl.password}]`] : [];
    const { exited } = await this.spawnJava(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', this.propertiesFile, ...scram]);
    const code = await exited;
    if (code !== 0) {
      throw new Error(`Formatting Kafka storage failed (exit ${code}):\n${await this.logTail()}`);
    }
  }
}

/** A random Kafka cluster id: 16 bytes, URL-safe base64 without padding (what `kafka-storage random-uuid` prints). */
function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka avoids ids starting with '-' because command lines would read them as options.
    if (!id.startsWith('-')) return id;
  }
}
