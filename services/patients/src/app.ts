import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import type { ServiceApp } from '@pep/service-kit';
import { consentBindings } from './consent.handlers.js';
import type { Tx } from './events.js';
import { FollowingService } from './following.service.js';
import { PrismaClient } from './generated/prisma/client.js';
import { journeyBindings } from './journey.handlers.js';
import { MergeService } from './merge.service.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { registerPatientLookupRoutes } from './patient-lookup.routes.js';
import { registerPatientRoutes } from './patient.routes.js';
import { PatientService } from './patient.service.js';

/** What the patients app is built from; main.ts and tests supply it. */
export type PatientsAppDeps = EventedServiceDeps;

/** Builds the patients service: its routes and its consumer of the patient journey and consent. */
export async function buildApp(deps: PatientsAppDeps): Promise<ServiceApp> {
  const { app, prisma, unitOfWork, consume } = await createEventedService<Tx, PrismaClient>({
    name: 'patients',
    description: 'Patients, their followers and journey; referrals, insurances, forms, uploads and EHR integrators (not built yet).',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
  });
  registerPatientRoutes(
    app,
    new PatientService(prisma, unitOfWork),
    new FollowingService(prisma, unitOfWork),
    new MergeService(prisma, unitOfWork),
  );
  registerPatientLookupRoutes(app, prisma);
  registerNotBuiltRoutes(app);
  consume('journey', [...journeyBindings, ...consentBindings]);
  return app;
}
