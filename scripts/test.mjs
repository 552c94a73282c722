// `npm test`: checks the formatting first, then brings up real Postgres and a real Kafka broker once (from the
// environment, testcontainers, or started locally), runs every project's typecheck, lint and tests with Nx,
// and ends with one line adding up the tests of every project.
import { spawn, spawnSync } from 'node:child_process';

const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

// Seconds, and no infrastructure: a file left unformatted fails the run before anything slow starts.
if (spawnSync('npx', ['prettier', '--check', '.', '--log-level', 'warn'], { stdio: 'inherit', env }).status !== 0) {
  process.stderr.write('Formatting: the files above differ from what Prettier writes; `npm run format` rewrites them.\n');
  process.exit(1);
}

if (spawnSync('npx', ['nx', 'run', 'testing:build', '--outputStyle=stream'], { stdio: 'inherit', env }).status !== 0) process.exit(1);
const { ensureTestInfrastructure } = await import('../packages/testing/dist/index.js');
const infrastructure = await ensureTestInfrastructure();
env.TEST_DATABASE_URL = infrastructure.databaseUrl;
env.KAFKA_BROKERS = infrastructure.kafkaBrokers.join(',');

const totals = { passed: 0, failed: 0, skipped: 0 };
const count = (line) => {
  // eslint-disable-next-line no-control-regex
  const plain = line.replace(/\u001b\[[0-9;]*m/g, '');
  if (!/^\S*\s*Tests\s+\d/.test(plain.replace(/^[^:]*:\s*/, ''))) return;
  for (const kind of Object.keys(totals)) {
    const match = new RegExp(`(\\d+) ${kind}`).exec(plain);
    if (match) totals[kind] += Number(match[1]);
  }
};

let status = 1;
try {
  status = await new Promise((resolve) => {
    const nx = spawn(
      'npx',
      ['nx', 'run-many', '-t', 'typecheck', 'lint', 'test', '--parallel=1', '--outputStyle=stream', ...process.argv.slice(2)],
      {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let pending = '';
    nx.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(count);
    });
    nx.on('close', (code) => {
      count(pending);
      resolve(code ?? 1);
    });
  });
} finally {
  await infrastructure.stop();
}
process.stdout.write(`\nTests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(status === 0 && totals.failed === 0 ? 0 : 1);
