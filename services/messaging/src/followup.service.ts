import { randomUUID } from 'node:crypto';
import { HttpProblem, type Identity, type InvalidField, notFound, pageOf, pageWindow } from '@pep/service-kit';
import type { Db } from './events.js';
import {
  FOLLOWUP_VARIABLES,
  type BulkFollowupBody,
  type CreateFollowupBody,
  type FollowupListQuery,
  type FollowupResponse,
  type FollowupTrigger,
  type UpdateFollowupBody,
} from './followup.schemas.js';
import type { FollowupRule, Prisma, PrismaClient } from './generated/prisma/client.js';
import { invalidFields, recordView, type Page } from './schemas.js';

/** Group of a rule created without one. */
export const DEFAULT_GROUP = 'default';

/**
 * The wording of a `text` rule written without one. {{booking.link}} is the page the facility (else the organization)
 * lets patients book on (the `bookingLink` setting); without one it is the facility's phone, so the text still says how
 * to book.
 */
export const DEFAULT_FOLLOWUP_TEXT: Partial<Record<FollowupTrigger, string>> = {
  'no-show': 'Hi {{patient.firstname}}, we missed you at {{facility.name}} on {{appointment.date}}. To book another time: {{booking.link}}',
  cancelled:
    'Hi {{patient.firstname}}, your appointment at {{facility.name}} was cancelled and we have not seen a new one yet. To book a time that suits you: {{booking.link}}',
};

/** A planned follow-up not sent yet, which deleting its rule or the patient rebooking voids. */
export const UNSENT_FOLLOWUP = ['scheduled', 'blocked', 'pending'] as const;

/** A rule's fields as written, whoever asks (one rule, or one of a bulk). */
type RuleFields = CreateFollowupBody;

/** Follow-up rules: CRUD, bulk writes (all or none) and their groups. Every rule belongs to the caller's organization. */
export class FollowupService {
  constructor(private readonly prisma: PrismaClient) {}

  /** One page of the organization's rules, by group then name. */
  async list(identity: Identity, query: FollowupListQuery): Promise<Page<FollowupResponse>> {
    const where: Prisma.FollowupRuleWhereInput = {
      organization: identity.organization,
      deleted: false,
      ...(query.group ? { group: query.group } : {}),
      ...(query.trigger ? { trigger: query.trigger } : {}),
      ...(query.active ? { active: query.active === 'true' } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.followupRule.findMany({ where, orderBy: [{ group: 'asc' }, { name: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.followupRule.count({ where }),
    ]);
    return pageOf(rows.map(toFollowupResponse), query, total);
  }

  /** The organization's groups of live rules, by name. */
  async groups(identity: Identity) {
    const rows = await this.prisma.followupRule.groupBy({
      by: ['group', 'active'],
      where: { organization: identity.organization, deleted: false },
      _count: { _all: true },
    });
    const groups = new Map<string, { name: string; rules: number; active: number }>();
    for (const row of rows) {
      const group = groups.get(row.group) ?? { name: row.group, rules: 0, active: 0 };
      group.rules += row._count._all;
      if (row.active) group.active += row._count._all;
      groups.set(row.group, group);
    }
    const response = [...groups.values()].sort((a, b) => a.name.localeCompare(b.name));
    return { response, page: 1, limit: response.length, total: response.length };
  }

  /** A rule of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<FollowupResponse> {
    return toFollowupResponse(await this.own(this.prisma, identity, id));
  }

  /** Creates a rule; its facilities and providers must be the organization's (400 naming the field). */
  async create(identity: Identity, body: CreateFollowupBody): Promise<FollowupResponse> {
    await this.check(this.prisma, identity, body, 'body');
    const rule = await this.prisma.followupRule.create({ data: this.dataOf(identity, body) });
    return toFollowupResponse(rule);
  }

  /** Changes a rule; the result is checked as a new one would be. */
  async update(identity: Identity, id: string, body: UpdateFollowupBody): Promise<FollowupResponse> {
    const current = await this.own(this.prisma, identity, id);
    const merged = mergedFields(current, body);
    await this.check(this.prisma, identity, merged, 'body');
    await this.prisma.followupRule.updateMany({
      where: { id, organization: identity.organization },
      data: { ...this.fieldsOf(merged), updatedBy: identity.user },
    });
    return this.get(identity, id);
  }

  /** Deletes a rule softly; what it planned and has not sent yet never goes. */
  async remove(identity: Identity, id: string): Promise<FollowupResponse> {
    await this.own(this.prisma, identity, id);
    await this.prisma.$transaction(async (tx) => {
      await tx.followupRule.updateMany({
        where: { id, organization: identity.organization },
        data: { deleted: true, updatedBy: identity.user },
      });
      await tx.reminder.updateMany({
        where: { organization: identity.organization, followupRule: id, status: { in: [...UNSENT_FOLLOWUP] } },
        data: { status: 'skipped', statusReason: 'followup-deleted', updatedBy: identity.user },
      });
    });
    return toFollowupResponse((await this.prisma.followupRule.findFirst({ where: { id, organization: identity.organization } }))!);
  }

  /**
   * Creates the rules without `_id` and changes those with one, in one transaction: any refusal (a field, a rule that
   * is not the organization's) changes nothing. Answers the rules in the body's order.
   */
  async bulk(identity: Identity, body: BulkFollowupBody): Promise<Page<FollowupResponse>> {
    const ids = await this.prisma.$transaction(async (tx) => {
      const done: string[] = [];
      for (const [index, item] of body.followups.entries()) {
        const { _id: id, ...fields } = item;
        const at = `body.followups.${index}`;
        if (id === undefined) {
          await this.check(tx, identity, fields, at);
          done.push((await tx.followupRule.create({ data: this.dataOf(identity, fields) })).id);
          continue;
        }
        const current = await tx.followupRule.findFirst({ where: { id, organization: identity.organization, deleted: false } });
        if (!current)
          throw new HttpProblem(404, 'not-found', 'No such follow-up in your organization.', {
            errors: [{ field: `${at}._id`, message: 'no such follow-up in your organization' }],
          });
        await this.check(tx, identity, fields, at);
        await tx.followupRule.updateMany({ where: { id }, data: { ...this.fieldsOf(fields), updatedBy: identity.user } });
        done.push(id);
      }
      return done;
    });
    const rows = await this.prisma.followupRule.findMany({ where: { id: { in: ids } } });
    const byId = new Map(rows.map((row) => [row.id, row]));
    const response = ids.map((id) => toFollowupResponse(byId.get(id)!));
    return { response, page: 1, limit: response.length, total: response.length };
  }

  private dataOf(identity: Identity, fields: RuleFields): Prisma.FollowupRuleCreateInput {
    return {
      id: randomUUID(),
      organization: identity.organization,
      ...this.fieldsOf(fields),
      createdBy: identity.user,
      updatedBy: identity.user,
    };
  }

  private fieldsOf(fields: RuleFields) {
    return {
      name: fields.name,
      group: fields.group ?? DEFAULT_GROUP,
      trigger: fields.trigger.event,
      delayDays: fields.trigger.delayDays,
      delayHours: fields.trigger.delayHours,
      sendTime: fields.trigger.sendAt ?? null,
      facilities: fields.conditions?.facilities ?? [],
      providers: fields.conditions?.providers ?? [],
      types: fields.conditions?.types ?? [],
      action: fields.action,
      text: fields.action === 'text' ? (fields.text ?? DEFAULT_FOLLOWUP_TEXT[fields.trigger.event] ?? null) : null,
      active: fields.active ?? true,
    };
  }

  /**
   * 400 naming every field of a rule that cannot work: a text rule with no wording (and no default), wording for a
   * survey, an unknown variable, a facility or provider that is not the organization's.
   */
  private async check(db: Db, identity: Identity, fields: RuleFields, at: string): Promise<void> {
    const errors: InvalidField[] = [];
    if (fields.action === 'text' && !fields.text && !DEFAULT_FOLLOWUP_TEXT[fields.trigger.event])
      errors.push({ field: `${at}.text`, message: `required for action text on ${fields.trigger.event}` });
    if (fields.action === 'feedback' && fields.text)
      errors.push({ field: `${at}.text`, message: 'only for action text: the survey has its own wording' });
    const known = new Set<string>(FOLLOWUP_VARIABLES);
    const unknown = [...(fields.text ?? '').matchAll(/\{\{\s*([\w.]+)\s*\}\}/g)].map((match) => match[1]!).find((name) => !known.has(name));
    if (unknown)
      errors.push({ field: `${at}.text`, message: `unknown template variable ${unknown}; use ${FOLLOWUP_VARIABLES.join(', ')}` });
    const { facilities = [], providers = [] } = fields.conditions ?? {};
    const [ownFacilities, ownProviders] = await Promise.all([
      facilities.length
        ? db.facility.findMany({ where: { organization: identity.organization, id: { in: facilities } }, select: { id: true } })
        : [],
      providers.length
        ? db.provider.findMany({ where: { organization: identity.organization, id: { in: providers } }, select: { id: true } })
        : [],
    ]);
    const own = (rows: Array<{ id: string }>) => new Set(rows.map((row) => row.id));
    const facilityIds = own(ownFacilities);
    const providerIds = own(ownProviders);
    facilities.forEach((id, index) => {
      if (!facilityIds.has(id))
        errors.push({ field: `${at}.conditions.facilities.${index}`, message: 'no such facility in your organization' });
    });
    providers.forEach((id, index) => {
      if (!providerIds.has(id))
        errors.push({ field: `${at}.conditions.providers.${index}`, message: 'no such provider in your organization' });
    });
    if (errors.length > 0) throw invalidFields(errors);
  }

  /** The organization's live rule; 404 otherwise. */
  private async own(db: Db, identity: Identity, id: string): Promise<FollowupRule> {
    const rule = await db.followupRule.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!rule) throw notFound('follow-up');
    return rule;
  }
}

/** A rule's stored fields with a PUT's changes over them. */
function mergedFields(current: FollowupRule, body: UpdateFollowupBody): RuleFields {
  const trigger = body.trigger ?? {
    event: current.trigger as FollowupTrigger,
    delayDays: current.delayDays,
    delayHours: current.delayHours,
    sendAt: current.sendTime,
  };
  const action = body.action ?? (current.action as RuleFields['action']);
  // A rule turned into a survey drops its wording, and one moved to another trigger drops the old trigger's default
  // (the new one's applies); otherwise the stored wording stands unless the body replaces it.
  const defaulted = current.text === DEFAULT_FOLLOWUP_TEXT[current.trigger as FollowupTrigger] && trigger.event !== current.trigger;
  const kept = action === 'text' && !defaulted ? (current.text ?? undefined) : undefined;
  const text = body.text === null ? undefined : (body.text ?? kept);
  return {
    name: body.name ?? current.name,
    group: body.group ?? current.group,
    trigger,
    conditions: body.conditions ?? { facilities: current.facilities, providers: current.providers, types: current.types },
    action,
    text,
    active: body.active ?? current.active,
  };
}

/** A rule as the API shows it. */
export function toFollowupResponse(rule: FollowupRule): FollowupResponse {
  return {
    ...recordView(rule),
    name: rule.name,
    group: rule.group,
    trigger: {
      event: rule.trigger as FollowupTrigger,
      delayDays: rule.delayDays,
      delayHours: rule.delayHours,
      sendAt: rule.sendTime,
    },
    conditions: { facilities: rule.facilities, providers: rule.providers, types: rule.types },
    action: rule.action as FollowupResponse['action'],
    text: rule.text,
    active: rule.active,
  };
}
