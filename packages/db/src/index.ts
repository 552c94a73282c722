export * from './sql-client.js';
export * from './outbox.js';
export * from './inbox.js';
export * from './consumer.js';
export * from './connection.js';
export * from './migrate.js';
export * from './infrastructure.js';
export * from './errors.js';
export * from './transaction-retry.js';
export * from './organization-access.js';
export {
  createIdempotencyStore,
  IdempotencyLeaseLostError,
  type IdempotencyStoreOptions,
} from './idempotency.js';
