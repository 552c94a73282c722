// `npm test`: brings up real Postgres and a real Kafka broker once (from the environment,
// testcontainers, or started locally), then runs every project's typecheck, lint and tests with Nx.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const run = (args) => spawnSync('npx', args, { stdio: 'inherit', env }).status ?? 1;

if (run(['nx', 'run', 'testing:build', '--outputStyle=stream']) !== 0) process.exit(1);
const { ensureTestInfrastructure } = await import('../packages/testing/dist/index.js');
const infrastructure = await ensureTestInfrastructure();
env.TEST_DATABASE_URL = infrastructure.databaseUrl;
env.KAFKA_BROKERS = infrastructure.kafkaBrokers.join(',');

let status = 1;
try {
  status = run(['nx', 'run-many', '-t', 'typecheck', 'lint', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)]);
} finally {
  await infrastructure.stop();
}
process.exit(status);
