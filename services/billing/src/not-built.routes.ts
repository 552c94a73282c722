import { registerNotBuilt, type Endpoint, type ServiceApp } from '@pep/service-kit';

/** v1 endpoints billing owns but does not serve yet (subscriptions come next). Each answers 501 problem+json. */
export const NOT_BUILT: ReadonlyArray<Endpoint> = [
  ['GET', '/api/billing/:id/subscriptions'],
  ['DELETE', '/api/billing/subscriptions'],
  ['POST', '/api/billing/subscriptions'],
];

/** Registers every {@link NOT_BUILT} endpoint as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  registerNotBuilt(app, 'billing', NOT_BUILT);
}
