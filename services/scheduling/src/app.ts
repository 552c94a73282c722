import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import { createOwnerLookup, runPeriodically, type ServiceApp } from '@pep/service-kit';
import { registerAppointmentRoutes } from './appointment.routes.js';
import { AppointmentService } from './appointment.service.js';
import { registerAvailabilityRoutes } from './availability.routes.js';
import { AvailabilityService } from './availability.service.js';
import { registerCatalogGroups } from './catalog.routes.js';
import type { Tx } from './events.js';
import { PrismaClient } from './generated/prisma/client.js';
import { registerNotBuiltRoutes } from './not-built.routes.js';
import { OfferLifecycle } from './offer-lifecycle.js';
import { OfferQueries } from './offer-queries.js';
import { offerHandlers } from './offer.handlers.js';
import { registerOfferAnswerRoutes, registerOfferRoutes } from './offer.routes.js';
import { patientDirectoryBindings } from './patient-directory.handlers.js';
import { PatientDirectory } from './patient-directory.js';
import { patientMergedHandler } from './patient-merged.handler.js';
import { registerSchedulingLookupRoutes } from './record-lookup.routes.js';
import { replyReceivedHandler } from './reply-received.handler.js';
import { settingsChangedHandler } from './settings-changed.handler.js';
import { registerWaitlistRoutes } from './waitlist.routes.js';
import { WaitlistService } from './waitlist.service.js';
import { topics } from './topics.js';

/** What the scheduling app is built from; main.ts and tests supply it. */
export interface SchedulingAppDeps extends EventedServiceDeps {
  /** The patients service's base URL, asked about patients not in the read model yet; a function while it is not listening yet. */
  patientsUrl: string | (() => string | undefined);
  /** The auth service's base URL, asked whether a booking's v1 `user` is a user of the caller's organization; unset answers 503 to such a booking. */
  authUrl?: string | (() => string | undefined);
  /** How long a patient or user lookup may take before the request answers 503 (default 2 s). */
  ownerLookupTimeoutMs?: number;
  /** The clock offers lapse and availabilities expire by; tests move it. */
  now?: () => Date;
  /** How often lapsed offers are looked for (default 30 s). */
  offerExpiryIntervalMs?: number;
}

/** Builds the scheduling service: its routes, the settings, patient, offer and reply consumers, and the offer expiry poller. */
export async function buildApp(deps: SchedulingAppDeps): Promise<ServiceApp> {
  const { app, prisma, unitOfWork, consume, background } = await createEventedService<Tx, PrismaClient>({
    name: 'scheduling',
    topics,
    description:
      'Providers, facilities, appointment types, appointments, availabilities and open slots, waitlists and offers of freed slots; recalls to come.',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
    auditsPatientReads: true,
  });
  const lookup = (owner: 'patients' | 'auth', baseUrl: string | (() => string | undefined), component: string) =>
    createOwnerLookup({
      owner,
      baseUrl,
      internalAuthSecret: deps.internalAuthSecret,
      timeoutMs: deps.ownerLookupTimeoutMs ?? 2_000,
      logger: deps.logger.child({ component }),
    });
  const patients = new PatientDirectory(prisma, lookup('patients', deps.patientsUrl, 'patient-lookup'));
  const users = lookup('auth', deps.authUrl ?? (() => undefined), 'user-lookup');
  const appointments = new AppointmentService(prisma, unitOfWork, patients, users, deps.now);
  const offers = new OfferLifecycle(prisma, unitOfWork, deps.now, deps.logger.child({ component: 'offers' }));

  registerCatalogGroups(app, prisma, unitOfWork);
  registerSchedulingLookupRoutes(app, prisma);
  registerAppointmentRoutes(app, appointments);
  registerAvailabilityRoutes(app, new AvailabilityService(prisma, unitOfWork, patients, deps.now));
  registerWaitlistRoutes(app, new WaitlistService(prisma, unitOfWork, patients));
  registerOfferAnswerRoutes(app, offers);
  registerOfferRoutes(app, new OfferQueries(prisma), offers, patients);
  registerNotBuiltRoutes(app);

  consume('settings', [settingsChangedHandler]);
  consume('patients', [patientMergedHandler]);
  consume('patient-directory', patientDirectoryBindings);
  consume('offers', offerHandlers(offers, unitOfWork, deps.logger.child({ component: 'offers' })));
  consume('replies', [replyReceivedHandler(appointments, unitOfWork, deps.logger.child({ component: 'replies' }))]);
  const expiryLogger = deps.logger.child({ component: 'offer-expiry' });
  background(() =>
    runPeriodically(
      () => offers.runExpiry(),
      deps.offerExpiryIntervalMs ?? 30_000,
      (error) => expiryLogger.error({ err: error }, 'offer expiry failed; retried at the next tick'),
    ),
  );
  return app;
}
