import { randomUUID } from 'node:crypto';
import type { PatientAccessLog } from '@pep/service-kit';
import type { RawSqlClient } from './sql-client.js';

/**
 * The service kit's patient-access audit kept in the service's own `patient_access` table (append-only: one row per
 * answered read, with the patients it showed). The table is the service's; its schema.prisma declares `PatientAccess`.
 */
export function patientAccessLog(client: RawSqlClient): PatientAccessLog {
  return async (access) => {
    await client.$executeRawUnsafe(
      'INSERT INTO patient_access (id, organization, actor, roles, route, patients, request_id, at) VALUES ($1::uuid, $2::uuid, $3, $4::text[], $5, $6::text[], $7, $8)',
      randomUUID(),
      access.organization,
      access.actor,
      [...access.roles],
      access.route,
      [...access.patients],
      access.requestId,
      access.at,
    );
  };
}
