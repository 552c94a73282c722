import { runMigrations } from '@pep/db';
import { main } from '@pep/service-kit';
import { migrationsDir } from './migrations.js';

// Entry of the migration Job: applies this service's committed migrations and exits.
main(async () => {
  await runMigrations({ databaseUrl: process.env['DATABASE_URL'], pgliteDir: process.env['PGLITE_DIR'], migrationsDir });
});
