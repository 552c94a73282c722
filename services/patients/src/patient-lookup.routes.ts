import { registerOwnerLookupRoutes, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';
import { live } from './patient.repository.js';

const uuid = z.uuid();

/**
 * The owner side of the patient lookup other services make when their read model has not heard of a patient yet
 * (scheduling, before a booking): found only for a live patient of the caller's organization. A merged record is not
 * live: its appointments and offers were moved to the survivor, so a new booking must name the survivor too.
 */
export function registerPatientLookupRoutes(app: ServiceApp, prisma: PrismaClient): void {
  registerOwnerLookupRoutes(app, {
    patient: async (identity, id) =>
      uuid.safeParse(id).success && (await prisma.patient.count({ where: { id, ...live(identity.organization) } })) > 0,
  });
}
