import { organizationCreatedV1, organizationDeletedV1, organizationUpdatedV1 } from '@pep/contracts';
import { on, type EventBinding } from './consumer.js';
import type { RawSqlClient } from './sql-client.js';

/**
 * Whether a service may act for an organization, as auth's events last told it: `active`, `suspended` (inactive, may come
 * back), `deleted` (for good), or `unknown` (no event seen yet; auth's gateway check still applies).
 */
export type OrganizationAccess = 'active' | 'suspended' | 'deleted' | 'unknown';

/** Consumer group suffix services use for {@link organizationAccessBindings}: `<service>.organization-access`. */
export const ORGANIZATION_ACCESS_CONSUMER = 'organization-access';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// A deletion is final: a later (or redelivered) update cannot make a deleted organization active again.
const UPSERT = `INSERT INTO "organization_access" ("organization", "active", "deleted_at", "updated_at")
  VALUES ($1::uuid, $2, $3::timestamptz, $4::timestamptz)
  ON CONFLICT ("organization") DO UPDATE SET
    "active" = EXCLUDED."active" AND "organization_access"."deleted_at" IS NULL AND EXCLUDED."deleted_at" IS NULL,
    "deleted_at" = COALESCE("organization_access"."deleted_at", EXCLUDED."deleted_at"),
    "updated_at" = EXCLUDED."updated_at"`;

/**
 * Handlers that keep a service's `organization_access` table (each service migrates its own) from auth's organization
 * events, so the service can refuse requests for an organization that was deleted or suspended.
 */
export const organizationAccessBindings: EventBinding[] = [
  on(organizationCreatedV1, async (event, tx) => {
    await tx.$executeRawUnsafe(UPSERT, event.data._id, event.data.active, null, event.time);
  }),
  on(organizationUpdatedV1, async (event, tx) => {
    await tx.$executeRawUnsafe(UPSERT, event.data._id, event.data.active, null, event.time);
  }),
  on(organizationDeletedV1, async (event, tx) => {
    await tx.$executeRawUnsafe(UPSERT, event.data._id, false, event.time, event.time);
  }),
];

/** What the service knows of an organization's access. */
export async function organizationAccess(db: RawSqlClient, organization: string): Promise<OrganizationAccess> {
  if (!UUID.test(organization)) return 'unknown';
  const rows = await db.$queryRawUnsafe<Array<{ active: boolean; deleted: boolean }>>(
    'SELECT "active", "deleted_at" IS NOT NULL AS "deleted" FROM "organization_access" WHERE "organization" = $1::uuid',
    organization,
  );
  const row = rows[0];
  if (!row) return 'unknown';
  return row.deleted ? 'deleted' : row.active ? 'active' : 'suspended';
}

/** The check a service guards its routes with: an organization may act unless auth's events said it was deleted or suspended. */
export function organizationMayAct(db: RawSqlClient): (organization: string) => Promise<boolean> {
  return async (organization) => {
    const access = await organizationAccess(db, organization);
    return access === 'active' || access === 'unknown';
  };
}
