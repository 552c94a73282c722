import { registerOwnerLookupRoutes, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';

const uuid = z.uuid();

/**
 * The owner side of the lookups other services make before storing an id of scheduling's: auth checks the providers
 * and facilities of settings and groups, messaging the appointments of reminders. Found only for a record of the
 * caller's organization that is not deleted (a cancelled appointment still is one).
 */
export function registerSchedulingLookupRoutes(app: ServiceApp, prisma: PrismaClient): void {
  const live = (organization: string, id: string) => ({ id, organization, deleted: false });
  const found = (count: number) => count > 0;
  registerOwnerLookupRoutes(app, {
    appointment: async (identity, id) =>
      uuid.safeParse(id).success && found(await prisma.appointment.count({ where: live(identity.organization, id) })),
    provider: async (identity, id) =>
      uuid.safeParse(id).success && found(await prisma.provider.count({ where: live(identity.organization, id) })),
    facility: async (identity, id) =>
      uuid.safeParse(id).success && found(await prisma.facility.count({ where: live(identity.organization, id) })),
    'appointment-type': async (identity, id) =>
      uuid.safeParse(id).success && found(await prisma.appointmentType.count({ where: live(identity.organization, id) })),
  });
}
