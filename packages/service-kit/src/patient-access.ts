import type { FastifyRequest } from 'fastify';
import type { AnyApp } from './service-app.js';

/** One read of patient data: who saw which patients' records, through which route, when. Ids only, never PHI. */
export interface PatientAccess {
  organization: string;
  /** The user (or integrator) who read. */
  actor: string;
  roles: readonly string[];
  /** The route, as `GET /api/patients/:id`. */
  route: string;
  /** The patients whose data the answer held. */
  patients: readonly string[];
  requestId: string;
  at: Date;
}

/** Where a service keeps its patient-access audit (its own database). */
export type PatientAccessLog = (access: PatientAccess) => Promise<void>;

/** The patients a route's answer holds, read from the answer itself. */
export type PatientsIn = (payload: unknown, request: FastifyRequest) => Iterable<string | null | undefined>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route answers patient data: each successful answer is written to the service's patient-access log before it
     * is sent (a read that cannot be audited is not answered). Gives the patient ids the answer holds.
     */
    readsPatients?: PatientsIn;
  }
}

const ANSWER_LISTS = ['response', 'data', 'items', 'results', 'rows'];

/**
 * The usual shapes: a record (`_id`, or `patient` when it is a record about a patient, `patientFound` for an offer's
 * taker), an array of them, or a page (`{ data | items | ... : [...] }`). `key` picks the field holding the patient id.
 */
export function patientsInAnswer(key: '_id' | 'patient' | 'patientFound' = '_id'): PatientsIn {
  const idsOf = (value: unknown): Array<string | undefined> => {
    if (Array.isArray(value)) return value.flatMap(idsOf);
    if (!value || typeof value !== 'object') return [];
    const record = value as Record<string, unknown>;
    const list = ANSWER_LISTS.find((name) => Array.isArray(record[name]));
    if (list) return idsOf(record[list]);
    const id = record[key];
    return [typeof id === 'string' ? id : undefined];
  };
  return (payload) => idsOf(payload);
}

/** What a request's caller and route are, for an access record written outside the serializer (streamed answers). */
export function accessOf(request: FastifyRequest, patients: Iterable<string | null | undefined>): PatientAccess | null {
  const identity = request.identity;
  const ids = [...new Set([...patients].filter((id): id is string => typeof id === 'string' && id.length > 0))];
  if (!identity || ids.length === 0) return null;
  return {
    organization: identity.organization,
    actor: identity.user,
    roles: identity.roles,
    route: `${request.method} ${request.routeOptions.url ?? request.url}`,
    patients: ids,
    requestId: request.id,
    at: new Date(),
  };
}

/**
 * Audits every successful answer of a route declaring `config.readsPatients`: the access is written (awaited) before
 * the answer is serialized, so a failed write fails the request instead of leaving an unaudited read.
 */
export function registerPatientAccessAudit(app: AnyApp, log: PatientAccessLog): void {
  app.addHook('preSerialization', async (request: FastifyRequest, reply, payload: unknown) => {
    const patientsIn = request.routeOptions.config.readsPatients;
    if (!patientsIn || reply.statusCode >= 400) return payload;
    const access = accessOf(request, patientsIn(payload, request));
    if (access) await log(access);
    return payload;
  });
}

/** A streamed answer's audit: each page's rows (records about patients, by `patient`) audited before it is written. */
export function auditRows(
  request: FastifyRequest,
  log: PatientAccessLog,
): (rows: ReadonlyArray<{ patient: string | null }>) => Promise<void> {
  return async (rows) => {
    const access = accessOf(
      request,
      rows.map((row) => row.patient),
    );
    if (access) await log(access);
  };
}
