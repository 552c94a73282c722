import { registerNotBuilt, type Endpoint, type ServiceApp } from '@pep/service-kit';

/**
 * v1 endpoints scheduling owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway
 * see an honest "not built" instead of a stand-in answer. `POST /api/providers/login` is auth's, not listed here.
 */
export const NOT_BUILT: ReadonlyArray<Endpoint> = [
  ['GET', '/api/appointments/reports/find'],
  ['GET', '/api/appointments/reports/summary'],
  ['GET', '/api/appointments/reports/xls'],
  ['POST', '/api/appointments/upload/dentrix'],
  ['POST', '/api/appointments/upload/referral'],
  ['POST', '/api/appointments/upload/successehs'],
  ['POST', '/api/appointments/upload/theraoffice'],
  ['GET', '/api/recalls'],
];

/** Registers every {@link NOT_BUILT} endpoint as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  registerNotBuilt(app, 'scheduling', NOT_BUILT);
}
