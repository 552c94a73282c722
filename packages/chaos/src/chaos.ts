// `npm run chaos`: the fault-injection suite. Starts the distributed runtime, runs the workload while faults are
// injected, waits for a quiet period, reads everything back and prints the table it also writes to a file.
// Flags: --duration <seconds|Nm> (default 5m), --seed <n> (default: random, printed), --short (one fault of each kind),
// --quiet <seconds> (how long the platform may take to settle, default 120), --out <folder> (default .data/chaos),
// --keep-databases (leave the run's databases behind, named in the output, to look into a failure). Each service's log
// is written to <out>/logs/<service>.log.
import { join, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { renderReport, writeReport } from './report.js';
import { runChaos } from './run.js';

/** Seconds from `90`, `90s` or `5m`. */
function seconds(value: string): number {
  const match = /^(\d+)(s|m)?$/.exec(value.trim());
  if (!match) throw new Error(`not a duration: ${value} (say 90, 90s or 5m)`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5m' },
    seed: { type: 'string' },
    short: { type: 'boolean', default: false },
    quiet: { type: 'string', default: '120' },
    out: { type: 'string', default: '.data/chaos' },
    'keep-databases': { type: 'boolean', default: false },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 1_000_000);
const say = (line: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
say(`seed ${seed}${values.short ? ', short run' : `, ${values.duration}`}`);
const report = await runChaos({
  seed,
  short: values.short,
  durationMs: seconds(values.duration) * 1_000,
  quietMs: seconds(values.quiet) * 1_000,
  keepDatabases: values['keep-databases'],
  logDirectory: join(resolve(values.out), 'logs'),
  log: say,
});
const file = await writeReport(report, resolve(values.out));
process.stdout.write(`\n${renderReport(report)}\n`);
say(`report written to ${file}`);
process.exit(report.failures.length === 0 ? 0 : 1);
