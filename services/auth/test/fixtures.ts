import { randomUUID } from 'node:crypto';
import type pg from 'pg';

/**
 * Adds a user to another organization with the given roles, as an accepted invitation would (invitations are
 * not built yet, so tests write the membership directly).
 */
export async function addMembership(sql: pg.Client, organization: string, user: string, roles: string[]): Promise<string> {
  const id = randomUUID();
  await sql.query('INSERT INTO organization_membership (id, organization, "user", roles, updated_at) VALUES ($1, $2, $3, $4, now())', [
    id,
    organization,
    user,
    roles,
  ]);
  return id;
}
