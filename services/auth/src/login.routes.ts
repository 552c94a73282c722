import type { ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import { clientAddress } from './client-address.js';
import { patientCodeSentResponse, patientLoginBody, patientSessionResponse } from './patient-login.schemas.js';
import type { PatientLoginService } from './patient-login.service.js';
import type { SessionService } from './session.service.js';
import { loginBody, providerSessionResponse } from './user.schemas.js';

/** Logins served under their owners' paths (the gateway sends them here): the credential check and token are auth's. */
export function registerLoginRoutes(app: ServiceApp, sessions: SessionService, patients: PatientLoginService): void {
  app.post(
    '/api/providers/login',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['providers'],
        summary: 'Log in as a provider (doctor)',
        description:
          'For users who hold the provider role in an organization: e-mail and password as at POST /api/users/login, landing ' +
          'in the oldest organization where they are an active provider. The access token is of kind provider and carries ' +
          'the provider role only; there is no refresh token, so providers log in again when it expires. Wrong credentials, ' +
          'and users who are no provider anywhere, answer the same 401 as users/login; failures count against the same ' +
          'per-account and per-address limits (429 with Retry-After).',
        body: loginBody,
        response: { 200: providerSessionResponse },
      },
    },
    async (request) => sessions.loginProvider(request.body, clientAddress(request)),
  );

  app.post(
    '/api/patients/login',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['patients'],
        summary: 'Log in as a patient with a one-time code',
        description:
          'Two calls. First `{organization, email}`: a six-digit code, valid 10 minutes, is e-mailed when the e-mail is on a ' +
          'patient record of the organization; the answer is the same either way. Then `{organization, email, code}`: an ' +
          'access token of kind patient, role patient, whose subject is that one patient id (no refresh token). When several ' +
          'records share the e-mail the second call answers 409 with their ids; send it again with `patient`. Wrong or ' +
          'expired codes answer 401; a code dies after 5 wrong tries; requests are limited per account and per address ' +
          '(429). Patients reachable by phone only cannot log in yet (see docs/adr/0010).',
        body: patientLoginBody,
        response: { 200: z.union([patientSessionResponse, patientCodeSentResponse]) },
      },
    },
    async (request) => patients.login(request.body, clientAddress(request)),
  );
}
