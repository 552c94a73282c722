export { buildApp, buildMessaging, type Messaging, type MessagingAppDeps } from './app.js';
export { configSchema, type MessagingConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export { NOT_BUILT } from './not-built.routes.js';
