export { buildApp, type SchedulingAppDeps } from './app.js';
export { configSchema, type SchedulingConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export { NOT_BUILT } from './not-built.routes.js';
