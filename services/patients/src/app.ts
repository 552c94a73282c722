import '@pep/contracts';
import { createEventedService, TRANSACTION_OPTIONS, type EventedServiceDeps } from '@pep/db';
import { createMailer, type Mailer, type MailerConfig, type ServiceApp } from '@pep/service-kit';
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
import { registerReferralReportRoutes } from './referral-report.routes.js';
import { ReferralReportService } from './referral-report.service.js';
import { registerReferralRoutes } from './referral.routes.js';
import { ReferralService } from './referral.service.js';
import { referralSettingsBindings } from './referral-settings.handler.js';
import { ReferralExpiry } from './referral-expiry.js';
import { referralPipelineBindings } from './referral-pipeline.handlers.js';
import { createNpiRegistry, NPPES_API_URL } from './npi-registry.js';
import { ReferralShare } from './referral-share.js';
import { registerReferringProviderRoutes } from './referring-provider.routes.js';
import { ReferringProviderService } from './referring-provider.service.js';
import { topics } from './topics.js';

/** What the patients app is built from; main.ts and tests supply it. */
export interface PatientsAppDeps extends EventedServiceDeps {
  /** The clock referrals are dated and expire by (default real time); end-to-end tests move it. */
  clock?: () => Date;
  /** How often referrals past their expireAt are looked for (default 60 s; null: only when asked, as tests do). */
  referralExpiryIntervalMs?: number | null;
  /** The NPPES NPI Registry API (default the public one) and how long a search may take (default 5 s). */
  nppes?: { url?: string; timeoutMs?: number };
  /** Where referral statuses shared with referring providers are mailed through; without it, sharing by e-mail answers 503. */
  mailer?: MailerConfig | Mailer | null;
}

/** Builds the patients service: its routes and its consumer of the patient journey and consent. */
export async function buildApp(deps: PatientsAppDeps): Promise<ServiceApp> {
  const { app, prisma, unitOfWork, consume, background, beforeClose, patientAccess } = await createEventedService<Tx, PrismaClient>({
    name: 'patients',
    topics,
    description:
      'Patients, their followers and journey, referrals and referring providers; insurances, forms, uploads and EHR integrators (not built yet).',
    deps,
    prisma: (adapter) => new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }),
    auditsPatientReads: true,
  });
  const clock = deps.clock ?? (() => new Date());
  registerPatientRoutes(
    app,
    new PatientService(prisma, unitOfWork),
    new FollowingService(prisma, unitOfWork),
    new MergeService(prisma, unitOfWork),
  );
  registerPatientLookupRoutes(app, prisma);
  registerReferralRoutes(app, new ReferralService(prisma, unitOfWork, clock));
  registerReferralReportRoutes(app, new ReferralReportService(prisma), patientAccess!);
  const mailer = deps.mailer ? ('send' in deps.mailer ? deps.mailer : createMailer(deps.mailer)) : null;
  registerReferringProviderRoutes(
    app,
    new ReferringProviderService(
      prisma,
      unitOfWork,
      createNpiRegistry({
        url: deps.nppes?.url ?? NPPES_API_URL,
        timeoutMs: deps.nppes?.timeoutMs ?? 5_000,
        logger: deps.logger.child({ component: 'npi-registry' }),
      }),
    ),
    new ReferralShare(prisma, unitOfWork, mailer, deps.logger.child({ component: 'referral-share' }), clock),
  );
  registerNotBuiltRoutes(app);
  consume('journey', [...journeyBindings, ...consentBindings]);
  consume('referral-settings', referralSettingsBindings);
  consume('referrals', referralPipelineBindings(clock));
  background(() => {
    const expiry = new ReferralExpiry(unitOfWork, clock, deps.logger.child({ component: 'referral-expiry' }), {
      intervalMs: deps.referralExpiryIntervalMs,
    });
    expiry.start();
    return () => expiry.stop();
  });
  beforeClose(() => mailer?.close());
  return app;
}
