import { randomUUID } from 'node:crypto';
import { createEvent, patientCreatedV1 } from '@pep/contracts';
import { enqueueEvents, type RawSqlClient } from '@pep/db';
import { HttpProblem, notFound, type Identity } from '@pep/service-kit';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { Patient, PrismaClient } from './generated/prisma/client.js';
import { findPatient, insertPatient, listJourney } from './patient.repository.js';
import type { CreatePatientBody, PatientResponse } from './patient.schemas.js';

const SOURCE = '/services/patients';

/** Patients' domain logic: validation beyond shape, persistence and the events each change publishes. */
export class PatientService {
  constructor(
    private readonly prisma: PrismaClient,
    /** Called after a commit that wrote events, so the relay publishes at once. */
    private readonly eventsWritten: () => void,
    private readonly defaultCountry: 'US' = 'US',
  ) {}

  /** Creates a patient and its patient.created event in one transaction. */
  async create(identity: Identity, body: CreatePatientBody, correlationId: string): Promise<PatientResponse> {
    const phone = body.phone === undefined ? null : this.normalizePhone(body.phone);
    const id = randomUUID();
    const patient = await this.prisma.$transaction(async (tx) => {
      const created = await insertPatient(tx, {
        id,
        organization: identity.organization,
        firstname: body.firstname,
        lastname: body.lastname,
        email: body.email ?? null,
        phone,
        dateOfBirth: body.dateOfBirth ?? null,
      });
      const event = createEvent(patientCreatedV1, {
        source: SOURCE,
        organization: identity.organization,
        subject: created.id,
        correlationId,
        data: snapshot(created),
      });
      await enqueueEvents(tx as unknown as RawSqlClient, [event]);
      return created;
    });
    this.eventsWritten();
    return toResponse(patient);
  }

  /** One patient of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<PatientResponse> {
    const patient = await findPatient(this.prisma, identity.organization, id);
    if (!patient) throw notFound('patient');
    return toResponse(patient);
  }

  /** The patient's timeline; 404 when the patient is not the caller's organization's. */
  async journey(identity: Identity, id: string) {
    await this.get(identity, id);
    const entries = await listJourney(this.prisma, identity.organization, id);
    return entries.map((entry) => ({
      _id: entry.id,
      type: entry.type,
      occurredAt: entry.occurredAt.toISOString(),
      summary: entry.summary as Record<string, unknown>,
    }));
  }

  private normalizePhone(raw: string): string {
    const parsed = parsePhoneNumberFromString(raw, this.defaultCountry);
    if (!parsed?.isValid()) {
      throw new HttpProblem(400, 'validation', 'The request is invalid.', {
        errors: [{ field: 'body.phone', message: 'not a valid phone number' }],
      });
    }
    return parsed.number;
  }
}

function snapshot(patient: Patient) {
  return {
    _id: patient.id,
    firstname: patient.firstname,
    lastname: patient.lastname,
    phone: patient.phone,
    email: patient.email,
    dateOfBirth: patient.dateOfBirth,
    doNotContact: patient.doNotContact,
  };
}

function toResponse(patient: Patient): PatientResponse {
  return {
    _id: patient.id,
    organization: patient.organization,
    firstname: patient.firstname,
    lastname: patient.lastname,
    name: `${patient.firstname} ${patient.lastname}`,
    email: patient.email,
    phone: patient.phone,
    dateOfBirth: patient.dateOfBirth,
    doNotContact: patient.doNotContact,
    createdAt: patient.createdAt.toISOString(),
    updatedAt: patient.updatedAt.toISOString(),
  };
}
