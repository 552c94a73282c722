import { registerNotBuilt, type Endpoint, type ServiceApp } from '@pep/service-kit';

/** v1 endpoints billing owns but does not serve yet; each answers 501 problem+json. None are left. */
export const NOT_BUILT: ReadonlyArray<Endpoint> = [];

/** Registers every {@link NOT_BUILT} endpoint as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  registerNotBuilt(app, 'billing', NOT_BUILT);
}
