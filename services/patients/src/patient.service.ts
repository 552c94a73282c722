import { randomUUID } from 'node:crypto';
import { patientCreatedV1, patientDeletedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf } from '@pep/service-kit';
import { applyContactChange, foldName, normalizeValue, parseContacts, toE164, type ContactEntry } from './contact.js';
import type { PatientsWork } from './events.js';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';
import { applyPatientChange, foldedName } from './patient-changes.js';
import {
  findDuplicates,
  findPatient,
  insertPatient,
  listJourney,
  live,
  lockDuplicateKey,
  lockPatients,
  pagePatients,
  type Db,
  type PatientRecord,
} from './patient.repository.js';
import type {
  CreatePatientBody,
  PatientListQuery,
  PatientResponse,
  SearchQuery,
  UpdatePatientBody,
  VerifyBody,
} from './patient.schemas.js';
import { patientSnapshot, toPatientResponse, toPatientSummary } from './views.js';

const invalid = (field: string, message: string) =>
  new HttpProblem(400, 'validation', 'The request is invalid.', { errors: [{ field, message }] });

/** Answer for a change to a record that was merged away: the client should act on the survivor. */
export const mergedAway = (patient: PatientRecord) =>
  new HttpProblem(409, 'patient-merged', 'This patient was merged into another; change that one.', { mergedInto: patient.mergedInto });

/** Patients' domain logic: validation beyond shape, persistence and the events each change publishes. */
export class PatientService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Creates a patient and its patient.created event in one transaction; a likely duplicate is stored and flagged. */
  async create(identity: Identity, body: CreatePatientBody, correlationId: string): Promise<PatientResponse> {
    const { contact, phone, email } = applyContactChange([], { contact: body.contact, phone: body.phone, email: body.email });
    const normalizedName = foldedName(body.firstname, body.lastname);
    const id = randomUUID();
    const patient = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockDuplicateKey(tx, identity.organization, phone);
      const created = await insertPatient(tx, {
        id,
        organization: identity.organization,
        firstname: body.firstname,
        lastname: body.lastname,
        middlename: body.middlename ?? null,
        normalizedName,
        email,
        phone,
        contact: contact as unknown as Prisma.InputJsonArray,
        dateOfBirth: body.dateOfBirth ?? null,
        gender: body.gender ?? null,
        language: body.language ?? 'en',
        address: body.address ?? null,
        city: body.city ?? null,
        state: body.state ?? null,
        country: body.country ?? null,
        postcode: body.postcode ?? null,
        externalId: body.externalId ?? null,
        source: body.source ?? 'ui',
        doNotContact: body.doNotContact ?? false,
        doNotContactMessage: body.doNotContactMessage ?? null,
        tags: body.tags ?? [],
        possibleDuplicateOf: await findDuplicates(tx, identity.organization, phone, normalizedName, id),
        createdBy: identity.user,
        updatedBy: identity.user,
      });
      emit(patientCreatedV1, { organization: identity.organization, subject: id, data: patientSnapshot(created) });
      return created;
    });
    return toPatientResponse(patient);
  }

  /** One patient of the caller's organization, merged ones included (they carry `mergedInto`); 404 otherwise. */
  async get(identity: Identity, id: string): Promise<PatientResponse> {
    return toPatientResponse(await this.find(this.prisma, identity, id));
  }

  /** One page of the organization's live patients, filtered. */
  async list(identity: Identity, query: PatientListQuery) {
    const { patients, total } = await pagePatients(
      this.prisma,
      this.listWhere(identity, query),
      orderOf(query.sort),
      query.page,
      query.limit,
    );
    return pageOf(patients.map(toPatientResponse), query, total);
  }

  /** The same page as {@link list}, in the compact form tables of records use. */
  async crudList(identity: Identity, query: PatientListQuery) {
    const { patients, total } = await pagePatients(
      this.prisma,
      this.listWhere(identity, query),
      orderOf(query.sort),
      query.page,
      query.limit,
    );
    return pageOf(patients.map(toPatientSummary), query, total);
  }

  /** Finds live patients by one kind of value; see the route's description for how each kind matches. */
  async search(identity: Identity, query: SearchQuery) {
    let where: Prisma.PatientWhereInput;
    switch (query.type) {
      case 'name': {
        const words = foldName(query.value).split(' ').filter(Boolean);
        if (words.length === 0) throw invalid('querystring.value', 'a name needs at least one letter or digit');
        where = { AND: words.map((word) => ({ normalizedName: { contains: word } })) };
        break;
      }
      case 'phone': {
        const phone = toE164(query.value);
        if (!phone) throw invalid('querystring.value', 'not a valid phone number');
        where = phoneMatch(phone);
        break;
      }
      case 'email':
        where = emailMatch(query.value);
        break;
      case 'dateOfBirth':
        if (!/^\d{4}-\d{2}-\d{2}$/.test(query.value) || Number.isNaN(Date.parse(query.value)))
          throw invalid('querystring.value', 'a date as YYYY-MM-DD');
        where = { dateOfBirth: query.value };
        break;
    }
    const { patients, total } = await pagePatients(
      this.prisma,
      { AND: [live(identity.organization), where] },
      orderOf('name'),
      query.page,
      query.limit,
    );
    return pageOf(patients.map(toPatientResponse), query, total);
  }

  /** Changes the fields given; patient.updated names them, and consent or language changes also publish patient.contact-preferences-changed. */
  async update(identity: Identity, id: string, body: UpdatePatientBody, correlationId: string): Promise<PatientResponse> {
    const patient = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockPatients(tx, identity.organization, [id]);
      const before = await this.writable(tx, identity, id);
      const contactChange =
        body.contact !== undefined || body.phone !== undefined || body.email !== undefined
          ? applyContactChange(parseContacts(before.contact), { contact: body.contact, phone: body.phone, email: body.email })
          : {};
      const after = await applyPatientChange(
        tx,
        identity,
        before,
        {
          ...body,
          ...contactChange,
          ...('contact' in contactChange ? { contact: contactChange.contact as unknown as PatientRecord['contact'] } : {}),
          // Lifting do-not-contact makes its reason meaningless.
          ...(body.doNotContact === false && body.doNotContactMessage === undefined ? { doNotContactMessage: null } : {}),
        },
        emit,
      );
      return after ?? before;
    });
    return toPatientResponse(patient);
  }

  /** Soft-deletes a patient: it leaves lists and search and answers 404 from then on; patient.deleted. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<PatientResponse> {
    const patient = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockPatients(tx, identity.organization, [id]);
      await this.writable(tx, identity, id);
      const deleted = await tx.patient.update({
        where: { id },
        data: { deletedAt: this.clock(), deletedBy: identity.user, updatedBy: identity.user },
        include: { subscribers: { select: { user: true } } },
      });
      emit(patientDeletedV1, { organization: identity.organization, subject: id, data: { _id: id } });
      return deleted;
    });
    return toPatientResponse(patient);
  }

  /** Whether the patient may be contacted, and why not. */
  async doNotContact(identity: Identity, id: string) {
    const patient = await this.find(this.prisma, identity, id);
    return { doNotContact: patient.doNotContact, doNotContactMessage: patient.doNotContactMessage };
  }

  /**
   * Records that staff confirmed the record with the patient: `verifiedAt`/`verifiedBy` on the patient and, when a
   * contact detail is named, on that detail too. Verifying again moves the time forward; patient.updated.
   */
  async verify(identity: Identity, id: string, body: VerifyBody, correlationId: string): Promise<PatientResponse> {
    const patient = await this.work.run({ correlationId }, async (tx, emit) => {
      await lockPatients(tx, identity.organization, [id]);
      const before = await this.writable(tx, identity, id);
      const now = this.clock();
      const stamp = { verifiedAt: now.toISOString(), verifiedBy: identity.user };
      let contact: ContactEntry[] | undefined;
      if (body?.contact) {
        const { type } = body.contact;
        const value = normalizeValue(type, body.contact.value);
        const entries = parseContacts(before.contact);
        const index = entries.findIndex((entry) => entry.type === type && entry.value === value);
        if (index < 0) throw invalid('body.contact', 'not one of the patient’s contact details');
        contact = entries.map((entry, i) => (i === index ? { ...entry, ...stamp } : entry));
      }
      const change = {
        verifiedAt: now,
        verifiedBy: identity.user,
        ...(contact ? { contact: contact as unknown as PatientRecord['contact'] } : {}),
      };
      return (await applyPatientChange(tx, identity, before, change, emit)) ?? before;
    });
    return toPatientResponse(patient);
  }

  /** The patient's timeline; 404 when the patient is not the caller's organization's. */
  async journey(identity: Identity, id: string) {
    await this.find(this.prisma, identity, id);
    const entries = await listJourney(this.prisma, identity.organization, id);
    return entries.map((entry) => ({
      _id: entry.id,
      type: entry.type,
      occurredAt: entry.occurredAt.toISOString(),
      summary: entry.summary as Record<string, unknown>,
    }));
  }

  private async find(db: Db, identity: Identity, id: string): Promise<PatientRecord> {
    const patient = await findPatient(db, identity.organization, id);
    if (!patient) throw notFound('patient');
    return patient;
  }

  /** A patient that may be changed: the caller's, not deleted, not merged away. */
  private async writable(db: Db, identity: Identity, id: string): Promise<PatientRecord> {
    const patient = await this.find(db, identity, id);
    if (patient.mergedInto) throw mergedAway(patient);
    return patient;
  }

  private listWhere(identity: Identity, query: PatientListQuery): Prisma.PatientWhereInput {
    const words = query.name ? foldName(query.name).split(' ').filter(Boolean) : [];
    const phone = query.phone ? toE164(query.phone) : null;
    return {
      AND: [
        live(identity.organization),
        ...words.map((word) => ({ normalizedName: { contains: word } })),
        ...(phone ? [phoneMatch(phone)] : []),
        ...(query.email ? [emailMatch(query.email)] : []),
        ...(query.dateOfBirth ? [{ dateOfBirth: query.dateOfBirth }] : []),
        ...(query.externalId ? [{ externalId: query.externalId }] : []),
        ...(query.doNotContact ? [{ doNotContact: query.doNotContact === 'true' }] : []),
        ...(query.possibleDuplicate === 'true' ? [{ NOT: { possibleDuplicateOf: { isEmpty: true } } }] : []),
        ...(query.possibleDuplicate === 'false' ? [{ possibleDuplicateOf: { isEmpty: true } }] : []),
        ...(query.source ? [{ source: query.source }] : []),
        ...(query.tag ? [{ tags: { has: query.tag } }] : []),
      ],
    };
  }
}

/** Any of the patient's phones, the primary one or another in `contact`. */
export function phoneMatch(phone: string): Prisma.PatientWhereInput {
  return {
    OR: [{ phone }, ...(['mobile', 'home', 'work'] as const).map((type) => ({ contact: { array_contains: [{ type, value: phone }] } }))],
  };
}

/** Any of the patient's e-mails; they are stored in lower case, so lower-casing the query makes the match case-insensitive. */
function emailMatch(raw: string): Prisma.PatientWhereInput {
  const email = raw.trim().toLowerCase();
  return { OR: [{ email }, { contact: { array_contains: [{ type: 'email', value: email }] } }] };
}

function orderOf(sort: PatientListQuery['sort']): Prisma.PatientOrderByWithRelationInput[] {
  switch (sort) {
    case 'createdAt':
      return [{ createdAt: 'asc' }, { id: 'asc' }];
    case '-createdAt':
      return [{ createdAt: 'desc' }, { id: 'asc' }];
    case '-updatedAt':
      return [{ updatedAt: 'desc' }, { id: 'asc' }];
    case 'name':
      return [{ lastname: 'asc' }, { firstname: 'asc' }, { id: 'asc' }];
  }
}
