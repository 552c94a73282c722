export * from './sql-client.js';
export * from './outbox.js';
export * from './inbox.js';
export * from './consumer.js';
export * from './connection.js';
export * from './migrate.js';
export * from './drift.js';
export * from './infrastructure.js';
