import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderReport } from './report.js';
import { runChaos } from './run.js';

// The short, seeded fault-injection run: the distributed runtime (built services as processes, real Postgres and a
// broker of its own) under the workload while one fault of each kind is injected. `npm run chaos` runs the long one.
// Part of `npm test`; CHAOS_IN_TESTS=0 leaves it out (a machine without the room for a broker of its own and five
// services). Each service's log is kept in .data/chaos-test/logs.
const logDirectory = fileURLToPath(new URL('../../../.data/chaos-test/logs', import.meta.url));

describe.skipIf(process.env['CHAOS_IN_TESTS'] === '0')('the distributed runtime under faults', () => {
  it('loses, duplicates and strands nothing, and keeps every invariant, through one fault of each kind', { timeout: 900_000 }, async () => {
    const report = await runChaos({
      seed: 20_261_206,
      short: true,
      durationMs: 0,
      quietMs: 120_000,
      logDirectory,
      log: (line) => process.stdout.write(`[chaos] ${line}\n`),
    });
    process.stdout.write(`${renderReport(report)}\n`);

    expect(report.faults.map((fault) => fault.kind)).toEqual(
      expect.arrayContaining([
        'kill -9',
        'broker restart',
        'postgres connections terminated',
        'consumer paused past its session',
        'vendor 500s',
        'vendor timeouts',
      ]),
    );
    expect(
      report.faults
        .filter((fault) => fault.kind === 'kill -9')
        .map((fault) => fault.target)
        .sort(),
    ).toEqual(['auth', 'billing', 'gateway', 'messaging', 'patients', 'scheduling']);
    // The workload did what it is there for, or nothing would be checked.
    const attempted = Object.fromEntries(report.rows.map((row) => [row.operation, row.acknowledged]));
    for (const operation of ['patient.create', 'appointment.book', 'reminder or automated text (due)', 'text (vendor send)'])
      expect(attempted[operation], operation).toBeGreaterThan(0);

    // Requests were sent both ways, so both duplicate columns mean something.
    const created = report.rows.find((row) => row.operation === 'patient.create')!;
    expect(created.withoutKey).toBeGreaterThan(0);
    expect(created.withoutKey).toBeLessThan(created.attempted);
    // Duplicates of a request with an Idempotency-Key, and of the platform's own work, are failures; those of a request
    // retried without one are measured (the table shows them), since nothing tells the platform it is a retry.
    for (const row of report.rows)
      expect({ operation: row.operation, lost: row.lost, duplicated: row.duplicated, stuck: row.stuck }).toEqual({
        operation: row.operation,
        lost: 0,
        duplicated: 0,
        stuck: 0,
      });
    for (const invariant of report.invariants)
      expect({ invariant: invariant.invariant, violations: invariant.violations, detail: invariant.detail }).toMatchObject({
        invariant: invariant.invariant,
        violations: 0,
      });
    for (const fault of report.faults)
      expect({ fault: `${fault.kind} ${fault.target}`, recovered: fault.recovered, detail: fault.detail }).toMatchObject({
        recovered: true,
      });
  });
});
