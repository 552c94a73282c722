import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CountRow, InvariantResult } from './checker.js';
import type { FaultRecord } from './faults.js';

/** What a fault-injection run found. */
export interface ChaosReport {
  seed: number;
  startedAt: string;
  durationSeconds: number;
  rows: CountRow[];
  faults: FaultRecord[];
  invariants: InvariantResult[];
  /** Why the run failed; empty when lost, duplicated and stuck are all 0, every invariant holds and every fault recovered. */
  failures: string[];
}

/** The failures of a run: any lost, duplicated or stuck count, any broken invariant, any fault the platform did not recover from. */
export function failuresOf(rows: CountRow[], invariants: InvariantResult[], faults: FaultRecord[]): string[] {
  const failures: string[] = [];
  for (const counted of rows) {
    for (const key of ['lost', 'duplicated', 'stuck'] as const) if (counted[key] > 0) failures.push(`${counted.operation}: ${key} ${counted[key]}`);
  }
  for (const invariant of invariants) if (invariant.violations > 0) failures.push(`${invariant.invariant}: ${invariant.violations} (${invariant.detail})`);
  for (const fault of faults) if (!fault.recovered) failures.push(`${fault.kind} ${fault.target}: not recovered (${fault.detail})`);
  return failures;
}

const cell = (value: string | number) => String(value).replace(/\|/g, '\\|');
const table = (header: string[], body: Array<Array<string | number>>) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((line) => `| ${line.map(cell).join(' | ')} |`)].join('\n');

/** The report as Markdown: operations and their counts, the faults injected, the invariants. */
export function renderReport(report: ChaosReport): string {
  const faultKinds = new Map<string, FaultRecord[]>();
  for (const fault of report.faults) faultKinds.set(fault.kind, [...(faultKinds.get(fault.kind) ?? []), fault]);
  return [
    `# Fault-injection run (seed ${report.seed})`,
    '',
    `Started ${report.startedAt}, ${report.durationSeconds} s. Result: **${report.failures.length === 0 ? 'PASS' : 'FAIL'}**.`,
    '',
    '## Operations',
    '',
    table(
      ['operation', 'attempted', 'acknowledged', 'lost', 'duplicated', 'without cause', 'stuck', 'vendor-ambiguous', 'what is counted'],
      report.rows.map((row) => [row.operation, row.attempted, row.acknowledged, row.lost, row.duplicated, row.withoutCause, row.stuck, row.vendorAmbiguous, row.note]),
    ),
    '',
    '## Faults',
    '',
    table(
      ['fault', 'count', 'recovered', 'targets and details'],
      [...faultKinds].map(([kind, faults]) => [kind, faults.length, faults.filter((fault) => fault.recovered).length, faults.map((fault) => `${fault.target}: ${fault.detail}`).join('; ')]),
    ),
    '',
    '## Invariants',
    '',
    table(['invariant', 'violations', 'detail'], report.invariants.map((invariant) => [invariant.invariant, invariant.violations, invariant.detail])),
    '',
    ...(report.failures.length > 0 ? ['## Failures', '', ...report.failures.map((failure) => `- ${failure}`), ''] : []),
  ].join('\n');
}

/** Writes `chaos-report.md` and `chaos-report.json` into `directory`; returns the Markdown file's path. */
export async function writeReport(report: ChaosReport, directory: string): Promise<string> {
  await mkdir(directory, { recursive: true });
  const file = join(directory, 'chaos-report.md');
  await writeFile(file, renderReport(report));
  await writeFile(join(directory, 'chaos-report.json'), JSON.stringify(report, null, 2));
  return file;
}
