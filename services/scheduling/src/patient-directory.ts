import { HttpProblem, type Identity, type InvalidField, type OwnerLookup } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';

/** The answer to a patient id that is not the caller's to use: 404 naming the field, as for every other service's record (ADR 0015). */
export function patientNotFound(problem: InvalidField): HttpProblem {
  return new HttpProblem(404, 'not-found', 'patient not found', { errors: [problem] });
}

/** What a patient id is checked for: a new booking or entry needs a live patient; a filter or sub-list any of the organization's. */
export type PatientUse = 'write' | 'read';

/**
 * Checks the patient ids requests name against the caller's organization: first the read model fed by the patients
 * service's events, then, for a patient not heard of yet (created a moment ago, its event still on the way), the
 * patients service itself. When that cannot be asked the request answers 503 with Retry-After: an id is never taken
 * on trust.
 */
export class PatientDirectory {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly owner: OwnerLookup,
  ) {}

  /** Why `id` cannot be used as asked, as an invalid `field`; null when it can. */
  async problem(identity: Identity, id: string, field: string, use: PatientUse): Promise<InvalidField | null> {
    const known = await this.prisma.patient.findUnique({ where: { id } });
    if (!known) return (await this.owner.exists(identity, 'patient', id)) ? null : { field, message: 'no such patient' };
    // Another organization's patient looks like no patient.
    if (known.organization !== identity.organization) return { field, message: 'no such patient' };
    if (use === 'read') return null;
    if (known.mergedInto) return { field, message: `the patient was merged into ${known.mergedInto}; use that patient` };
    if (known.deleted) return { field, message: 'the patient was deleted' };
    return null;
  }

  /** A 404 naming `field` unless `id` is a patient of the caller's organization that can be used as asked. */
  async require(identity: Identity, id: string, field: string, use: PatientUse): Promise<void> {
    const problem = await this.problem(identity, id, field, use);
    if (problem) throw patientNotFound(problem);
  }

  /** A 404 unless `id`, taken from a path, is a patient of the caller's organization (any state: its history stays readable). */
  async requirePath(identity: Identity, id: string): Promise<void> {
    await this.require(identity, id, 'params.id', 'read');
  }
}
