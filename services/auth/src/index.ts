export { buildApp, type AuthAppDeps } from './app.js';
export { configSchema, type AuthConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export type { Mail, Mailer, MailerConfig } from './mailer.js';
