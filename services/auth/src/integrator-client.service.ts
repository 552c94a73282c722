import { randomBytes, randomUUID } from 'node:crypto';
import { integratorClientCreatedV1, integratorClientDeletedV1, integratorClientUpdatedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { IntegratorClient, PrismaClient } from './generated/prisma/client.js';
import type {
  CreateIntegratorClientBody,
  IntegratorClientResponse,
  IntegratorLoginBody,
  UpdateIntegratorClientBody,
} from './integrator-client.schemas.js';
import { hashPassword, verifyDummyPassword, verifyPassword } from './passwords.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import { recordRevocation } from './revocation.repository.js';
import { PLATFORM_ADMIN } from './roles.js';
import type { SessionService } from './session.service.js';
import { isUuid, type ListQuery } from './user.schemas.js';
import type { Db } from './user.repository.js';

/** Only a platform operator can hand the operators' role on to a client (the sales tooling's key for demo users). */
function refuseOperatorRoleFromNonOperator(identity: Identity, roles: readonly string[]): void {
  if (roles.includes(PLATFORM_ADMIN[0]) && !identity.roles.includes(PLATFORM_ADMIN[0])) {
    throw new HttpProblem(403, 'forbidden', 'Only a platform operator may give a client the platform-admin role.', {
      errors: [{ field: 'body.roles', message: 'platform-admin needs a platform operator; leave it out' }],
    });
  }
}

/** An organization's admin sets a client's rate limit up to the platform's maximum; only a platform operator goes above it. */
function refuseRateLimitAboveMaximum(identity: Identity, rateLimitPerMinute: number | null | undefined, maximum: number): void {
  if (rateLimitPerMinute == null || rateLimitPerMinute <= maximum || identity.roles.includes(PLATFORM_ADMIN[0])) return;
  throw new HttpProblem(400, 'validation', 'The request is invalid.', {
    errors: [{ field: 'body.rateLimitPerMinute', message: `at most ${maximum} requests a minute; a platform operator can allow more` }],
  });
}

/** The answer to every failed integrator login, whichever part was wrong. */
const invalidClientCredentials = () => new HttpProblem(401, 'invalid-credentials', 'The client id or secret is incorrect.');

/** An integrator client as the API shows it. */
export function toIntegratorClientResponse(client: IntegratorClient): IntegratorClientResponse {
  return {
    _id: client.id,
    organization: client.organizationId,
    user: rootAccountOf(client.organizationId),
    name: client.name,
    clientId: client.clientId,
    roles: client.roles,
    active: client.active,
    rateLimitPerMinute: client.rateLimitPerMinute,
    lastLogin: client.lastLogin?.toISOString() ?? null,
    createdBy: client.createdBy,
    createdAt: client.createdAt.toISOString(),
    updatedAt: client.updatedAt.toISOString(),
  };
}

const snapshot = (client: IntegratorClient) => ({
  _id: client.id,
  name: client.name,
  clientId: client.clientId,
  roles: client.roles,
  active: client.active,
});

/** Integrator clients: machine credentials of an organization, and their logins. */
export class IntegratorClientService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly limiter: RateLimiter,
    private readonly clock: () => Date,
    private readonly work: AuthWork,
    /** Highest rate limit an organization's admin may give a client (requests a minute). */
    private readonly maxRateLimitPerMinute: number,
  ) {}

  /** One page of the organization's clients, oldest first. */
  async list(identity: Identity, query: ListQuery) {
    const where = { organizationId: identity.organization };
    const [clients, total] = await Promise.all([
      this.prisma.integratorClient.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.integratorClient.count({ where }),
    ]);
    return pageOf(clients.map(toIntegratorClientResponse), query, total);
  }

  /** A client of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<IntegratorClientResponse> {
    return toIntegratorClientResponse(await this.own(this.prisma, identity, id));
  }

  /** Registers a client with a random id and secret; the secret is answered this once and kept only as a hash. */
  async create(identity: Identity, body: CreateIntegratorClientBody, correlationId: string) {
    refuseOperatorRoleFromNonOperator(identity, body.roles);
    refuseRateLimitAboveMaximum(identity, body.rateLimitPerMinute, this.maxRateLimitPerMinute);
    const clientSecret = randomBytes(32).toString('base64url');
    const secretHash = await hashPassword(clientSecret);
    const client = await this.work.run({ correlationId }, async (tx, emit) => {
      const created = await tx.integratorClient.create({
        data: {
          id: randomUUID(),
          organizationId: identity.organization,
          name: body.name,
          clientId: randomBytes(16).toString('base64url'),
          secretHash,
          roles: [...new Set(body.roles)],
          active: body.active,
          rateLimitPerMinute: body.rateLimitPerMinute,
          createdBy: identity.user,
        },
      });
      emit(integratorClientCreatedV1, { organization: identity.organization, subject: created.id, data: snapshot(created) });
      return created;
    });
    return { ...toIntegratorClientResponse(client), clientSecret };
  }

  /** Renames, changes roles or rate limit, or (de)activates a client; integrator-client.updated. */
  async update(identity: Identity, id: string, body: UpdateIntegratorClientBody, correlationId: string): Promise<IntegratorClientResponse> {
    const existing = await this.own(this.prisma, identity, id);
    if (body.roles) refuseOperatorRoleFromNonOperator(identity, body.roles);
    refuseRateLimitAboveMaximum(identity, body.rateLimitPerMinute, this.maxRateLimitPerMinute);
    const roles = body.roles ? [...new Set(body.roles)] : undefined;
    const changed = [
      ...(body.name !== undefined && body.name !== existing.name ? ['name'] : []),
      ...(roles && [...roles].sort().join() !== [...existing.roles].sort().join() ? ['roles'] : []),
      ...(body.active !== undefined && body.active !== existing.active ? ['active'] : []),
      ...(body.rateLimitPerMinute !== undefined && body.rateLimitPerMinute !== existing.rateLimitPerMinute ? ['rateLimitPerMinute'] : []),
    ];
    if (changed.length === 0) return toIntegratorClientResponse(existing);
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      const now = this.clock();
      const client = await tx.integratorClient.update({
        where: { id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(roles ? { roles } : {}),
          ...(body.active !== undefined ? { active: body.active } : {}),
          ...(body.rateLimitPerMinute !== undefined ? { rateLimitPerMinute: body.rateLimitPerMinute } : {}),
        },
      });
      if (changed.includes('active') && !client.active) {
        await recordRevocation(tx, { scope: 'subject', subject: id, notBefore: now, reason: 'client-deactivated' });
      }
      emit(integratorClientUpdatedV1, {
        organization: identity.organization,
        subject: id,
        time: now,
        data: { ...snapshot(client), changed },
      });
      return client;
    });
    return toIntegratorClientResponse(updated);
  }

  /** Deletes a client, so its secret logs in no more; answers the deleted record. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<IntegratorClientResponse> {
    const removed = await this.work.run({ correlationId }, async (tx, emit) => {
      const client = await this.own(tx, identity, id);
      const now = this.clock();
      await tx.integratorClient.delete({ where: { id } });
      await recordRevocation(tx, { scope: 'subject', subject: id, notBefore: now, reason: 'client-deleted' });
      emit(integratorClientDeletedV1, { organization: identity.organization, subject: id, time: now, data: { _id: id } });
      return client;
    });
    return toIntegratorClientResponse(removed);
  }

  /**
   * Checks a client id and secret under per-client and per-address limits and answers an access token of kind
   * integrator. Unknown, wrong, inactive and deleted clients all get the same 401.
   */
  async login(body: IntegratorLoginBody, address: string): Promise<{ token: string; expiresIn: number }> {
    await this.limiter.check(RULES.integratorLoginPerClient, body.clientId);
    await this.limiter.check(RULES.integratorLoginPerAddress, address);
    const client = await this.prisma.integratorClient.findUnique({ where: { clientId: body.clientId }, include: { organization: true } });
    // An unknown client id costs the same hashing work, so timing does not tell which ids exist.
    const valid = client ? await verifyPassword(client.secretHash, body.clientSecret) : await verifyDummyPassword(body.clientSecret);
    if (!client || !valid || !client.active || !client.organization.active) {
      await this.limiter.hit(RULES.integratorLoginPerClient, body.clientId);
      await this.limiter.hit(RULES.integratorLoginPerAddress, address);
      throw invalidClientCredentials();
    }
    await this.limiter.reset(RULES.integratorLoginPerClient, body.clientId);
    await this.prisma.integratorClient.update({ where: { id: client.id }, data: { lastLogin: this.clock() } });
    return this.sessions.issueAccessToken({
      user: client.id,
      organization: client.organizationId,
      roles: client.roles,
      kind: 'integrator',
      rateLimitPerMinute: client.rateLimitPerMinute,
    });
  }

  /** Whether the organization has a client with this id (settings of ref integrator name one). */
  async exists(db: Db, organization: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return Boolean(await db.integratorClient.findFirst({ where: { id, organizationId: organization }, select: { id: true } }));
  }

  private async own(db: Db, identity: Identity, id: string): Promise<IntegratorClient> {
    const client = await db.integratorClient.findFirst({ where: { id, organizationId: identity.organization } });
    if (!client) throw notFound('integrator client');
    return client;
  }
}
