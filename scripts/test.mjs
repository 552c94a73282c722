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
// Vitest's "Failed Tests" block of each project, repeated at the end: in a run of many minutes it is otherwise far
// above the last screen, where a CI log that keeps only its tail never shows it.
const failures = [];
let inFailures = false;
const MAX_FAILURE_LINES = 100;
const count = (line, stream) => {
  // eslint-disable-next-line no-control-regex
  const plain = line.replace(/\u001b\[[0-9;]*m/g, '');
  const text = plain.replace(/^[^:]*:\s*/, '');
  if (stream === 'stderr' && /Failed Tests \d+|Unhandled Errors?/.test(text)) inFailures = true;
  // Only Vitest's stderr: what other tasks print to stdout meanwhile is not part of the block.
  if (inFailures && stream === 'stderr' && failures.length < MAX_FAILURE_LINES) failures.push(plain);
  // A block ends at its last "[n/n]" rule (or, if cut short, at the summary).
  if (/\[(\d+)\/\1\]⎯|^\s*Test Files\s+\d/.test(text)) inFailures = false;
  if (!/^\S*\s*Tests\s+\d/.test(text)) return;
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
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    // Vitest writes its failures to stderr: both streams are passed on and read, each by whole lines.
    const pending = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr']) {
      nx[stream].on('data', (chunk) => {
        process[stream].write(chunk);
        const lines = (pending[stream] + chunk).split('\n');
        pending[stream] = lines.pop() ?? '';
        for (const line of lines) count(line, stream);
      });
    }
    nx.on('close', (code) => {
      count(pending.stdout, 'stdout');
      count(pending.stderr, 'stderr');
      resolve(code ?? 1);
    });
  });
} finally {
  await infrastructure.stop();
}
if (failures.length > 0) process.stdout.write(`\nWhat failed, repeated from above:\n${failures.join('\n')}\n`);
process.stdout.write(`\nTests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
process.exit(status === 0 && totals.failed === 0 ? 0 : 1);
