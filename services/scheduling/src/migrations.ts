import { fileURLToPath } from 'node:url';

/** Folder of this service's committed SQL migrations (the same path from src/ and dist/). */
export const migrationsDir = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

/**
 * Indexes the migrations create that schema.prisma cannot describe, for the drift check to leave alone: the index
 * behind the exclusion constraint that forbids double booking, the partial unique index that lets an offer have
 * one accepted recipient only, the one that keeps one live availability per provider and start, and the two of the
 * open-slot query (live appointments by provider and start, open candidates in page order).
 */
export const HAND_WRITTEN_INDEXES = [
  'appointment_no_overlap',
  'offer_recipient_one_winner',
  'availability_one_per_start',
  'appointment_live_start',
  'availability_open',
];
