export { buildApp, type BillingAppDeps } from './app.js';
export { configSchema, type BillingConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export { NOT_BUILT } from './not-built.routes.js';
