// `npm run bench:gateway`: requests per second and p99 latency of the same read (GET a patient),
// sent straight to the patients service and through the gateway (token verification, identity
// signing, proxying), measured side by side in one run and alternated so machine noise hits both
// alike. BENCH_DATABASE_URL=postgres://... puts patients on Postgres instead of in-memory PGlite.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);

const children = [];
const startChild = async (...args) => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./gateway-server.mjs', import.meta.url)), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return JSON.parse(await new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve)));
};
// Patients and the gateway each in their own process, as deployed; the load comes from this one.
const patients = await startChild('patients');
const gatewayProcess = await startChild('gateway', patients.patientsUrl);
const setup = { ...patients, ...gatewayProcess };

const run = (url, headers) =>
  new Promise((resolve, reject) =>
    autocannon({ url, headers, connections, duration: seconds }, (error, result) => (error ? reject(error) : resolve(result))),
  );
const results = { direct: [], gateway: [] };
try {
  // Warm both paths (JIT, connection pools, key import) before measuring.
  await run(`${setup.patientsUrl}${setup.path}`, { 'x-internal-identity': setup.internal });
  await run(`${setup.gatewayUrl}${setup.path}`, { authorization: `Bearer ${setup.token}` });
  for (let round = 0; round < rounds; round++) {
    results.direct.push(await run(`${setup.patientsUrl}${setup.path}`, { 'x-internal-identity': setup.internal }));
    results.gateway.push(await run(`${setup.gatewayUrl}${setup.path}`, { authorization: `Bearer ${setup.token}` }));
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
}

const summary = (list) => ({
  requestsPerSecond: Math.round(list.reduce((sum, r) => sum + r.requests.average, 0) / list.length),
  p99Ms: Math.max(...list.map((r) => r.latency.p99)),
  non2xx: list.reduce((sum, r) => sum + r.non2xx + r.errors, 0),
});
const direct = summary(results.direct);
const gateway = summary(results.gateway);
const report = {
  database: process.env.BENCH_DATABASE_URL ? 'postgres' : 'pglite',
  seconds,
  connections,
  rounds,
  direct,
  gateway,
  throughputRatio: Number((gateway.requestsPerSecond / direct.requestsPerSecond).toFixed(2)),
  addedP99Ms: gateway.p99Ms - direct.p99Ms,
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (direct.non2xx > 0 || gateway.non2xx > 0) {
  process.stderr.write('some requests failed; the numbers above are not comparable\n');
  process.exit(1);
}
