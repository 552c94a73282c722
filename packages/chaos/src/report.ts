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

/**
 * The failures of a run: any lost, duplicated (with a key, or by the platform's own work) or stuck count, any broken
 * invariant, any fault the platform did not recover from. Duplicates of requests retried without a key are reported,
 * not failures: the platform cannot tell such a retry from a new request.
 */
export function failuresOf(rows: CountRow[], invariants: InvariantResult[], faults: FaultRecord[]): string[] {
  const failures: string[] = [];
  for (const counted of rows) {
    for (const key of ['lost', 'duplicated', 'stuck'] as const)
      if (counted[key] > 0) failures.push(`${counted.operation}: ${key} ${counted[key]}`);
  }
  for (const invariant of invariants)
    if (invariant.violations > 0) failures.push(`${invariant.invariant}: ${invariant.violations} (${invariant.detail})`);
  for (const fault of faults) if (!fault.recovered) failures.push(`${fault.kind} ${fault.target}: not recovered (${fault.detail})`);
  return failures;
}

const cell = (value: string | number) => String(value).replace(/\|/g, '\\|');
const table = (header: string[], body: Array<Array<string | number>>) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((line) => `| ${line.map(cell).join(' | ')} |`)].join(
    '\n',
  );

/** The report's totals in one line: lost, duplicated with and without key, vendor-ambiguous, stuck, invariant violations. */
export function totalsOf(report: Pick<ChaosReport, 'rows' | 'invariants'>): string {
  const sum = (key: 'lost' | 'duplicated' | 'duplicatedWithoutKey' | 'vendorAmbiguous' | 'stuck' | 'withoutCause') =>
    report.rows.reduce((total, row) => total + row[key], 0);
  const violations = report.invariants.reduce((total, invariant) => total + invariant.violations, 0);
  return (
    `lost ${sum('lost')}, duplicated with key ${sum('duplicated')}, duplicated without key ${sum('duplicatedWithoutKey')}, ` +
    `vendor-ambiguous ${sum('vendorAmbiguous')}, stuck ${sum('stuck')}, without cause ${sum('withoutCause')}, invariant violations ${violations}`
  );
}

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
      [
        'operation',
        'attempted',
        'acknowledged',
        'without key',
        'retried (with key / without)',
        'lost',
        'duplicated (with key)',
        'duplicated (without key)',
        'without cause',
        'stuck',
        'vendor-ambiguous',
        'what is counted',
      ],
      report.rows.map((row) => [
        row.operation,
        row.attempted,
        row.acknowledged,
        row.withoutKey,
        `${row.retriedWithKey} / ${row.retriedWithoutKey}`,
        row.lost,
        row.duplicated,
        row.duplicatedWithoutKey,
        row.withoutCause,
        row.stuck,
        row.vendorAmbiguous,
        row.note,
      ]),
    ),
    '',
    `Totals: ${totalsOf(report)}. "Duplicated (with key)" also counts the platform's own work (texts, events); a request retried without an ` +
      'Idempotency-Key cannot be told from a new one, so its duplicates are shown, not failed.',
    '',
    '## Faults',
    '',
    table(
      ['fault', 'count', 'recovered', 'targets and details'],
      [...faultKinds].map(([kind, faults]) => [
        kind,
        faults.length,
        faults.filter((fault) => fault.recovered).length,
        faults.map((fault) => `${fault.target}: ${fault.detail}`).join('; '),
      ]),
    ),
    '',
    '## Invariants',
    '',
    table(
      ['invariant', 'violations', 'detail'],
      report.invariants.map((invariant) => [invariant.invariant, invariant.violations, invariant.detail]),
    ),
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
