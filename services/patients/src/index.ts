export { buildApp, type PatientsAppDeps } from './app.js';
export { configSchema, type PatientsConfig } from './config.js';
export { migrationsDir } from './migrations.js';
export { NOT_BUILT } from './not-built.routes.js';
