import { ACCESS_REVOCATIONS_PATH, accessRevocationsSnapshotSchema, REVOCATIONS_READER_ROLE } from '@pep/contracts';
import type { ServiceApp } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';
import { recentRevocations } from './revocation.repository.js';

// Revocations a little older than the token lifetime are kept in the answer, so clock skew between hosts cannot hide one.
const SKEW_MARGIN_MS = 60_000;

/**
 * The internal route the gateway loads access-token revocations from at start and on every refresh, before applying auth's
 * events, and the organizations suspended for billing (their writes answer 402): only callers with the gateway's internal identity (a role no person or client holds) may read it.
 */
export function registerRevocationRoutes(app: ServiceApp, prisma: PrismaClient, clock: () => Date, tokenLifetimeSeconds: number): void {
  app.get(
    ACCESS_REVOCATIONS_PATH,
    {
      config: { roles: [REVOCATIONS_READER_ROLE] },
      // Every gateway polls this route all day: at info, its lines would be most of the log (the probes are kept out too).
      logLevel: 'warn',
      schema: {
        tags: ['internal'],
        summary: 'Access-token revocations that may still cover a live token (internal, for the gateway)',
        hide: true,
        response: { 200: accessRevocationsSnapshotSchema },
      },
    },
    async () => {
      // Taken before the reads, so a change the reads miss is newer than `asOf` and the gateway keeps what its event said.
      const now = clock();
      const revocations = await recentRevocations(prisma, new Date(now.getTime() - tokenLifetimeSeconds * 1000 - SKEW_MARGIN_MS));
      const suspended = await prisma.organization.findMany({
        where: { billingSuspendedAt: { not: null }, deletedAt: null },
        select: { id: true, billingSuspendedAt: true },
      });
      const billingSuspended = suspended.map((row) => ({ organization: row.id, since: row.billingSuspendedAt!.toISOString() }));
      return { asOf: now.toISOString(), tokenLifetimeSeconds, revocations, billingSuspended };
    },
  );
}
