export { buildApp, type AuthAppDeps } from './app.js';
export { configSchema, type AuthConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export type { Mail, Mailer, MailerConfig } from '@pep/service-kit';
export { DemoPracticeSeeder, NO_PRACTICE, sizeOf, type DemoPractice, type DemoPracticeSize } from './demo-practice.seeder.js';
export { runOperatorCommand, type OperatorTarget } from './operator.js';
export { OperatorError } from './operator.service.js';
