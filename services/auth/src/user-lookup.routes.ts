import { registerOwnerLookupRoutes, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';

const uuid = z.uuid();

/**
 * The owner side of the lookup scheduling makes when a v1 booking names a `user` other than the organization or the
 * caller (ADR 0022): found only for a user with an active membership in the caller's organization, so a user of
 * another organization, or one removed from this one, looks like none.
 */
export function registerUserLookupRoutes(app: ServiceApp, prisma: PrismaClient): void {
  registerOwnerLookupRoutes(app, {
    user: async (identity, id) =>
      uuid.safeParse(id).success &&
      (await prisma.membership.count({ where: { organizationId: identity.organization, userId: id, active: true } })) > 0,
  });
}
