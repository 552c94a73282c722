import { randomBytes } from 'node:crypto';

/** A short random lowercase suffix that keeps names from parallel test files apart. */
export function randomSuffix(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/** Topic prefix unique to one test file or test, e.g. `t-outbox-3f9a1c2e.`; topic names are `${prefix}name`. */
export function uniqueTopicPrefix(label: string): string {
  // Kafka topic names allow only [a-zA-Z0-9._-] and at most 249 characters.
  const clean = label
    .replace(/[^a-zA-Z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `t-${clean || 'test'}-${randomSuffix()}.`;
}

/** A Postgres database name from a label: lowercase [a-z0-9_], random suffix, at most 63 bytes. */
export function uniqueDatabaseName(label: string): string {
  const suffix = randomSuffix();
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  // 63 = Postgres identifier limit; longer names would be silently truncated and could collide.
  const room = 63 - 't_'.length - '_'.length - suffix.length;
  return `t_${(clean || 'test').slice(0, room)}_${suffix}`;
}
