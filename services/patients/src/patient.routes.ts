import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { PatientService } from './patient.service.js';
import { createPatientBody, idParams, journeyEntryResponse, patientResponse } from './patient.schemas.js';

const STAFF = ['admin', 'manager', 'staff', 'provider', 'integrator'] as const;

/** HTTP routes of patients. Every query is scoped to the caller's organization. */
export function registerPatientRoutes(app: ServiceApp, patients: PatientService): void {
  app.post(
    '/api/patients',
    {
      schema: {
        tags: ['patients'],
        summary: 'Create a patient',
        description: 'Answers 200 with the created patient, as the v1 API does.',
        body: createPatientBody,
        response: { 200: patientResponse },
      },
    },
    async (request) => patients.create(requireIdentity(request, STAFF), request.body, request.id),
  );

  app.get(
    '/api/patients/:id',
    { schema: { tags: ['patients'], summary: 'Get a patient', params: idParams, response: { 200: patientResponse } } },
    async (request) => patients.get(requireIdentity(request, STAFF), request.params.id),
  );

  app.get(
    '/api/patients/:id/journey',
    {
      schema: {
        tags: ['patients'],
        summary: "The patient's timeline, assembled from events",
        params: idParams,
        response: { 200: z.object({ response: z.array(journeyEntryResponse) }) },
      },
    },
    async (request) => ({ response: await patients.journey(requireIdentity(request, STAFF), request.params.id) }),
  );
}
