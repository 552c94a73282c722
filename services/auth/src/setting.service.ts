import { randomUUID } from 'node:crypto';
import { settingsChangedV1, type SettingProperties } from '@pep/contracts';
import type { Emit } from '@pep/db';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { Prisma, PrismaClient, Setting } from './generated/prisma/client.js';
import { SETTING_WRITERS } from './roles.js';
import type { CreateSettingBody, SettingListQuery, SettingResponse, UpdateSettingBody } from './setting.schemas.js';
import { type SchedulingRefs, unknownReferences } from './scheduling-refs.js';
import { isUniqueViolation } from './user.service.js';
import { findMember, type Db } from './user.repository.js';
import { isUuid } from './user.schemas.js';

type SettingRef = SettingResponse['ref'];

/** Answers whether an id names a subject of this kind in the organization, for kinds auth owns beyond users. */
export type RefChecker = (db: Db, organization: string, ref: SettingRef, refId: string) => Promise<boolean>;

/** A setting as the API shows it. */
export function toSettingResponse(setting: Setting): SettingResponse {
  return {
    _id: setting.id,
    organization: setting.organizationId,
    user: rootAccountOf(setting.organizationId),
    ref: setting.ref as SettingRef,
    refId: setting.refId,
    settings: setting.settings as Record<string, unknown>,
    unsubscribed: setting.unsubscribed,
    unsubscribedAll: setting.unsubscribedAll,
    createdBy: setting.createdBy,
    updatedBy: setting.updatedBy,
    createdAt: setting.createdAt.toISOString(),
    updatedAt: setting.updatedAt.toISOString(),
  };
}

const settingExists = () => new HttpProblem(409, 'setting-exists', 'This subject already has a setting record; change that one.');

/** Settings of users, providers, facilities, appointment types, integrator clients and the organization; settings.changed. */
export class SettingService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: AuthWork,
    /** Checks providers, facilities and appointment types, which scheduling owns. */
    private readonly schedulingRefs: SchedulingRefs,
    /** Checks refs auth owns beyond users (integrator clients), once they exist. */
    private readonly extraRefCheck: RefChecker = async () => true,
  ) {}

  /** One page of the organization's settings, optionally of one subject kind or one subject. */
  async list(identity: Identity, query: SettingListQuery) {
    const where = {
      organizationId: identity.organization,
      ...(query.ref ? { ref: query.ref } : {}),
      ...(query.refId ? { refId: query.refId } : {}),
    };
    const [settings, total] = await Promise.all([
      this.prisma.setting.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.setting.count({ where }),
    ]);
    return pageOf(settings.map(toSettingResponse), query, total);
  }

  /** A setting of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<SettingResponse> {
    return toSettingResponse(await this.own(this.prisma, identity, id));
  }

  /**
   * Creates the setting record of one subject, which must be the organization's (404 naming body.refId; 503 when
   * scheduling cannot be asked about a provider, facility or appointment type); a second one for the subject answers 409.
   */
  async create(identity: Identity, body: CreateSettingBody, correlationId: string): Promise<SettingResponse> {
    const refId = await this.checkRef(identity, body.ref, body.refId);
    try {
      const created = await this.work.run({ correlationId }, async (tx, emit) => {
        const setting = await tx.setting.create({
          data: {
            id: randomUUID(),
            organizationId: identity.organization,
            ref: body.ref,
            refId,
            settings: body.settings as Prisma.InputJsonObject,
            unsubscribed: unique(body.unsubscribed),
            createdBy: identity.user,
            updatedBy: identity.user,
          },
        });
        publish(emit, setting, false);
        return setting;
      });
      return toSettingResponse(created);
    } catch (error) {
      if (isUniqueViolation(error)) throw settingExists();
      throw error;
    }
  }

  /** Replaces what the body gives: the settings object whole, the unsubscribed keys, the blanket unsubscribe. */
  update(identity: Identity, id: string, body: UpdateSettingBody, correlationId: string): Promise<SettingResponse> {
    return this.change(identity, id, correlationId, () => ({
      ...(body.settings !== undefined ? { settings: body.settings } : {}),
      ...(body.unsubscribed !== undefined ? { unsubscribed: unique(body.unsubscribed) } : {}),
      ...(body.unsubscribedAll !== undefined ? { unsubscribedAll: body.unsubscribedAll } : {}),
    }));
  }

  /**
   * Wants messages of this key again. It also lifts a blanket unsubscribe, since asking for one kind of message
   * contradicts wanting none; keys unsubscribed one by one stay unsubscribed.
   */
  subscribe(identity: Identity, id: string, key: string, correlationId: string): Promise<SettingResponse> {
    return this.change(
      identity,
      id,
      correlationId,
      (setting) => ({ unsubscribed: setting.unsubscribed.filter((k) => k !== key), unsubscribedAll: false }),
      true,
    );
  }

  /** Wants no more messages of this key, or of any key when none is given. */
  unsubscribe(identity: Identity, id: string, key: string | undefined, correlationId: string): Promise<SettingResponse> {
    return this.change(
      identity,
      id,
      correlationId,
      (setting) => (key === undefined ? { unsubscribedAll: true } : { unsubscribed: unique([...setting.unsubscribed, key]) }),
      true,
    );
  }

  /** Deletes a setting; read models learn it through settings.changed with `deleted`. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<SettingResponse> {
    const removed = await this.work.run({ correlationId }, async (tx, emit) => {
      const setting = await this.own(tx, identity, id, true);
      await tx.setting.delete({ where: { id } });
      publish(emit, setting, true);
      return setting;
    });
    return toSettingResponse(removed);
  }

  /**
   * Applies a change under the row's lock, so concurrent toggles of one setting neither lose updates nor publish
   * out of order; an unchanged record publishes nothing. Subscription changes are also open to the user the
   * setting is about.
   */
  private async change(
    identity: Identity,
    id: string,
    correlationId: string,
    next: (setting: Setting) => { settings?: SettingProperties; unsubscribed?: string[]; unsubscribedAll?: boolean },
    ownSubscription = false,
  ): Promise<SettingResponse> {
    const result = await this.work.run({ correlationId }, async (tx, emit) => {
      const setting = await this.own(tx, identity, id, true);
      const isWriter = identity.roles.some((role) => (SETTING_WRITERS as readonly string[]).includes(role));
      const isSubject = ownSubscription && setting.ref === 'user' && setting.refId === identity.user;
      if (!isWriter && !isSubject) throw new HttpProblem(403, 'forbidden', 'Your role may not do this.');
      const change = next(setting);
      const changed =
        (change.settings !== undefined && JSON.stringify(change.settings) !== JSON.stringify(setting.settings)) ||
        (change.unsubscribed !== undefined && change.unsubscribed.join('\n') !== setting.unsubscribed.join('\n')) ||
        (change.unsubscribedAll !== undefined && change.unsubscribedAll !== setting.unsubscribedAll);
      if (!changed) return setting;
      const updated = await tx.setting.update({
        where: { id },
        data: {
          ...(change.settings !== undefined ? { settings: change.settings as Prisma.InputJsonObject } : {}),
          ...(change.unsubscribed !== undefined ? { unsubscribed: change.unsubscribed } : {}),
          ...(change.unsubscribedAll !== undefined ? { unsubscribedAll: change.unsubscribedAll } : {}),
          updatedBy: identity.user,
        },
      });
      publish(emit, updated, false);
      return updated;
    });
    return toSettingResponse(result);
  }

  private async checkRef(identity: Identity, ref: SettingRef, refId: string | undefined): Promise<string> {
    if (ref === 'organization') {
      // Another organization's id must look like any unknown id.
      if (refId !== undefined && refId !== identity.organization) throw notFound('organization');
      return identity.organization;
    }
    if (refId === undefined) {
      throw new HttpProblem(400, 'validation', 'The request is invalid.', {
        errors: [{ field: 'body.refId', message: `required for ref ${ref}` }],
      });
    }
    if (ref === 'user' && !(isUuid(refId) && (await findMember(this.prisma, identity.organization, refId))))
      throw unknownReferences('user', ['body.refId']);
    if (ref === 'provider' || ref === 'facility' || ref === 'appointment-type')
      await this.schedulingRefs.require(identity, ref, refId, 'body.refId');
    if (!(await this.extraRefCheck(this.prisma, identity.organization, ref, refId))) throw unknownReferences(ref, ['body.refId']);
    return refId;
  }

  /** The caller's organization's setting, locked for the rest of the transaction when asked; 404 otherwise. */
  private async own(db: Db, identity: Identity, id: string, lock = false): Promise<Setting> {
    if (lock)
      await db.$executeRawUnsafe(
        'SELECT 1 FROM "setting" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE',
        id,
        identity.organization,
      );
    const setting = await db.setting.findFirst({ where: { id, organizationId: identity.organization } });
    if (!setting) throw notFound('setting');
    return setting;
  }
}

/** Emits settings.changed with the record as it now is (or was, when `deleted`). */
function publish(emit: Emit, setting: Setting, deleted: boolean): void {
  emit(settingsChangedV1, {
    organization: setting.organizationId,
    subject: setting.id,
    data: {
      _id: setting.id,
      organization: setting.organizationId,
      ref: setting.ref as SettingRef,
      refId: setting.refId,
      settings: setting.settings as SettingProperties,
      unsubscribed: setting.unsubscribed,
      unsubscribedAll: setting.unsubscribedAll,
      deleted,
    },
  });
}

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}
