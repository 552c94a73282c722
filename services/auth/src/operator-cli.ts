import { runOperatorCommand } from './operator.js';
import { OperatorError } from './operator.service.js';

// Entry of `npm run operator -- add|remove|list [email]` and of the k8s operator Job.
try {
  const lines = await runOperatorCommand(process.argv.slice(2), {
    databaseUrl: process.env['DATABASE_URL'],
    dataDir: process.env['DATA_DIR'],
  });
  for (const line of lines) process.stdout.write(`${line}\n`);
} catch (error) {
  process.stderr.write(`${error instanceof OperatorError ? error.message : String(error instanceof Error ? error.stack : error)}\n`);
  process.exitCode = 1;
}
