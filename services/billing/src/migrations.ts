import { fileURLToPath } from 'node:url';

/** Folder of this service's committed SQL migrations (the same path from src/ and dist/). */
export const migrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));
