// Loads vitest's own types so the augmentation below has a module to extend.
import type {} from 'vitest';

declare module 'vitest' {
  /** What this package's globalSetup passes to test files through `inject()`. */
  export interface ProvidedContext {
    /** Bootstrap addresses of the run's shared Kafka broker. */
    kafkaBrokers: string[];
    /** Admin-capable URL of the run's Postgres server. */
    databaseUrl: string;
  }
}
