import { migrateTopics, runMigrations } from '@pep/db';
import { main } from '@pep/service-kit';
import { migrationsDir } from './migrations.js';
import { topics } from './topics.js';

// Entry of the migration Job: applies this service's committed migrations, declares its Kafka topics, and exits.
main(async () => {
  await runMigrations({ databaseUrl: process.env['DATABASE_URL'], pgliteDir: process.env['PGLITE_DIR'], migrationsDir });
  await migrateTopics(topics);
});
