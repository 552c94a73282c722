export * from './envelope.js';
export * from './registry.js';
export * from './access-revocations.js';
export * from './events/patient.js';
export * from './events/auth.js';
export * from './events/scheduling.js';
export * from './events/messaging.js';
export * from './events/billing.js';
