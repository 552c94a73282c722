export * from './config.js';
export * from './logger.js';
export * from './problem.js';
export * from './identity.js';
export * from './health.js';
export * from './metrics.js';
export * from './service-app.js';
export * from './run.js';
