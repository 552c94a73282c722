import { HttpProblem } from './problem.js';
import type { AnyApp } from './service-app.js';

/** Whether the caller's organization may still act: false for a deleted or suspended one. */
export type OrganizationCheck = (organization: string) => Promise<boolean>;

/**
 * Refuses every request made for an organization that was deleted or suspended, behind the gateway's own check (defence
 * in depth). 401, as the gateway answers for such tokens: the caller's credentials no longer grant access, and signing
 * in again (to another organization) is what a client should do.
 */
export function guardOrganizations(app: AnyApp, mayAct: OrganizationCheck): void {
  app.addHook('preHandler', async (request, reply) => {
    const identity = request.identity;
    if (!identity || (await mayAct(identity.organization))) return;
    reply.header('www-authenticate', 'Bearer error="invalid_token"');
    throw new HttpProblem(
      401,
      'organization-unavailable',
      'The organization of this token was deleted or suspended; sign in to an active organization.',
    );
  });
}
