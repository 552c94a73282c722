import { randomUUID } from 'node:crypto';
import { HttpProblem, type Identity, notFound, onPage, pageOf, pageWindow } from '@pep/service-kit';
import type { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';
import { messagingSettings } from './settings.js';
import { notArrivedYet, type References } from './references.js';
import { invalidFields, rootAccountOf, type ListQuery, type Page } from './schemas.js';
import type {
  createPatientTemplateBody,
  CreateTemplateBody,
  MessageTemplateResponse,
  PatientTemplateResponse,
  resolvedResponse,
  updatePatientTemplateBody,
  UpsertTemplateBody,
} from './template.schemas.js';
import { BUILT_IN_KEYS, BUILT_IN_TEMPLATES, builtIn, contextFor, render, variablesOf, wordingFor } from './templates.js';
import { toPatientTemplateResponse, toTemplateResponse } from './views.js';

const taken = () =>
  new HttpProblem(
    409,
    'template-exists',
    'The organization already has a template with this key and language; POST /api/messageTemplates/:key replaces it.',
  );

/** The built-in wording of a key as the API shows it. */
function builtInResponse(organization: string, key: string, language: string): MessageTemplateResponse | null {
  const wording = builtIn(key, language);
  if (!wording) return null;
  const known = (BUILT_IN_TEMPLATES as Record<string, Record<string, unknown>>)[key]![language] ? language : 'en';
  return {
    _id: null,
    organization,
    user: rootAccountOf(organization),
    key,
    language: known,
    description: null,
    subject: wording.subject,
    text: wording.text,
    builtIn: true,
    deleted: 0,
    createdAt: null,
    updatedAt: null,
  };
}

/** Message templates: an organization's wording of the messages the platform sends, over the built-in wording. */
export class TemplateService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly references: References,
  ) {}

  /** Creates a template; one already live for the key and language answers 409, a deleted one is written anew. */
  async create(identity: Identity, body: CreateTemplateBody): Promise<MessageTemplateResponse> {
    const language = body.language ?? 'en';
    const existing = await this.prisma.messageTemplate.findUnique({
      where: { organization_key_language: { organization: identity.organization, key: body.key, language } },
    });
    if (existing && !existing.deleted) throw taken();
    return this.write(identity, body.key, body);
  }

  /** Creates or replaces the template of a key and language. */
  upsert(identity: Identity, key: string, body: UpsertTemplateBody): Promise<MessageTemplateResponse> {
    return this.write(identity, key, body);
  }

  private async write(identity: Identity, key: string, body: UpsertTemplateBody): Promise<MessageTemplateResponse> {
    const language = body.language ?? 'en';
    const wording = {
      description: body.description ?? null,
      subject: body.subject ?? null,
      text: body.text,
      deleted: false,
      updatedBy: identity.user,
    };
    const row = await this.prisma.messageTemplate.upsert({
      where: { organization_key_language: { organization: identity.organization, key, language } },
      create: { id: randomUUID(), organization: identity.organization, key, language, createdBy: identity.user, ...wording },
      update: wording,
    });
    return toTemplateResponse(row);
  }

  /** The wording in use for a key: the organization's own or the built-in one; 404 when neither exists. */
  async get(identity: Identity, key: string, language = 'en'): Promise<MessageTemplateResponse> {
    const own = await this.prisma.messageTemplate.findMany({
      where: { organization: identity.organization, key, deleted: false, language: { in: [language, 'en'] } },
    });
    const preferred = own.find((row) => row.language === language) ?? own.find((row) => row.language === 'en');
    if (preferred) return toTemplateResponse(preferred);
    const fallback = builtInResponse(identity.organization, key, language);
    if (!fallback) throw notFound('message template');
    return fallback;
  }

  /** Every wording in use in a language: the organization's own, then the built-in keys it has not replaced. */
  async effective(identity: Identity, query: ListQuery & { language?: string | undefined }): Promise<Page<MessageTemplateResponse>> {
    const language = query.language ?? 'en';
    const own = await this.prisma.messageTemplate.findMany({
      where: { organization: identity.organization, deleted: false, language },
      orderBy: { key: 'asc' },
    });
    const ownKeys = new Set(own.map((row) => row.key));
    const all = [
      ...own.map(toTemplateResponse),
      ...BUILT_IN_KEYS.filter((key) => !ownKeys.has(key)).map((key) => builtInResponse(identity.organization, key, language)!),
    ].sort((a, b) => a.key.localeCompare(b.key));
    return pageOf(onPage(all, query), query, all.length);
  }

  /** One page of the organization's own templates. */
  async list(
    identity: Identity,
    query: ListQuery & { key?: string | undefined; language?: string | undefined },
  ): Promise<Page<MessageTemplateResponse>> {
    const where = {
      organization: identity.organization,
      deleted: false,
      ...(query.key ? { key: query.key } : {}),
      ...(query.language ? { language: query.language } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.messageTemplate.findMany({ where, orderBy: [{ key: 'asc' }, { language: 'asc' }], ...pageWindow(query) }),
      this.prisma.messageTemplate.count({ where }),
    ]);
    return pageOf(rows.map(toTemplateResponse), query, total);
  }

  /** Deletes one of the organization's templates; the built-in wording applies again. */
  async remove(identity: Identity, id: string): Promise<MessageTemplateResponse> {
    const row = await this.prisma.messageTemplate.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!row) throw notFound('message template');
    return toTemplateResponse(
      await this.prisma.messageTemplate.update({ where: { id }, data: { deleted: true, updatedBy: identity.user } }),
    );
  }

  /**
   * Renders the wording of a key for a patient and appointment, as it would be sent: dates and times in the
   * facility's time zone and the patient's language. Ids not of the organization answer 404 rather than a text with
   * blanks; ones their owner vouches for whose details have not arrived yet answer 503 with Retry-After.
   */
  async resolve(
    identity: Identity,
    key: string,
    query: { patient?: string | undefined; appointment?: string | undefined; language?: string | undefined },
  ): Promise<z.infer<typeof resolvedResponse>> {
    const [patient, appointment] = await Promise.all([
      query.patient ? this.references.patient(identity, query.patient, 'querystring.patient', { allowDeleted: true }) : undefined,
      query.appointment
        ? this.references.appointment(identity, query.appointment, 'querystring.appointment', { allowDeleted: true })
        : undefined,
    ]);
    if (patient === null) throw notArrivedYet('patient');
    if (appointment === null) throw notArrivedYet('appointment');
    if (patient && appointment && appointment.patient !== patient.id)
      throw invalidFields([{ field: 'querystring.appointment', message: "not this patient's appointment" }]);
    // The wording comes first, so the context loads only what it mentions; the patient checked above is the one the
    // context would name, so its language is the same.
    const language = query.language ?? patient?.language ?? 'en';
    const [wording, settings] = await Promise.all([
      wordingFor(this.prisma, identity.organization, key, language),
      messagingSettings(this.prisma, identity.organization),
    ]);
    if (!wording) throw notFound('message template');
    const context = await contextFor(
      this.prisma,
      identity.organization,
      { patient: query.patient ?? null, appointment: query.appointment ?? null, help: settings.helpText },
      [wording.text, wording.subject],
    );
    const variables = variablesOf(context, wording.language);
    return {
      key,
      language: wording.language,
      subject: wording.subject === null ? null : render(wording.subject, variables),
      text: render(wording.text, variables),
      builtIn: !wording.custom,
    };
  }
}

/** Patient message templates: canned replies staff pick from. */
export class PatientTemplateService {
  constructor(private readonly prisma: PrismaClient) {}

  /** One page of the organization's canned replies, by name. */
  async list(identity: Identity, query: ListQuery & { language?: string | undefined }): Promise<Page<PatientTemplateResponse>> {
    const where = { organization: identity.organization, deleted: false, ...(query.language ? { language: query.language } : {}) };
    const [rows, total] = await Promise.all([
      this.prisma.patientMessageTemplate.findMany({ where, orderBy: [{ name: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.patientMessageTemplate.count({ where }),
    ]);
    return pageOf(rows.map(toPatientTemplateResponse), query, total);
  }

  /** Creates a canned reply. */
  async create(identity: Identity, body: z.infer<typeof createPatientTemplateBody>): Promise<PatientTemplateResponse> {
    const row = await this.prisma.patientMessageTemplate.create({
      data: {
        id: randomUUID(),
        organization: identity.organization,
        name: body.name,
        text: body.text,
        language: body.language ?? 'en',
        createdBy: identity.user,
        updatedBy: identity.user,
      },
    });
    return toPatientTemplateResponse(row);
  }

  /** A canned reply of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<PatientTemplateResponse> {
    return toPatientTemplateResponse(await this.own(identity, id));
  }

  /** Changes a canned reply. */
  async update(identity: Identity, id: string, body: z.infer<typeof updatePatientTemplateBody>): Promise<PatientTemplateResponse> {
    await this.own(identity, id);
    return toPatientTemplateResponse(
      await this.prisma.patientMessageTemplate.update({ where: { id }, data: { ...body, updatedBy: identity.user } }),
    );
  }

  /** Deletes a canned reply softly. */
  async remove(identity: Identity, id: string): Promise<PatientTemplateResponse> {
    await this.own(identity, id);
    return toPatientTemplateResponse(
      await this.prisma.patientMessageTemplate.update({ where: { id }, data: { deleted: true, updatedBy: identity.user } }),
    );
  }

  private async own(identity: Identity, id: string) {
    const row = await this.prisma.patientMessageTemplate.findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!row) throw notFound('patient message template');
    return row;
  }
}
