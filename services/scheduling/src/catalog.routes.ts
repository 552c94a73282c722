import {
  appointmentTypeCreatedV1,
  appointmentTypeDeletedV1,
  appointmentTypeUpdatedV1,
  createEvent,
  facilityCreatedV1,
  facilityDeletedV1,
  facilityUpdatedV1,
  providerCreatedV1,
  providerDeletedV1,
  providerUpdatedV1,
} from '@pep/contracts';
import type { ServiceApp } from '@pep/service-kit';
import {
  appointmentTypeResponse,
  createAppointmentTypeBody,
  updateAppointmentTypeBody,
  type AppointmentTypeResponse,
} from './appointment-type.schemas.js';
import { CatalogService, registerCatalogRoutes, type CatalogDelegate, type CatalogKind } from './catalog.js';
import { createFacilityBody, facilityResponse, updateFacilityBody, type FacilityResponse } from './facility.schemas.js';
import type { AppointmentType, Facility, PrismaClient, Provider } from './generated/prisma/client.js';
import { createProviderBody, providerResponse, updateProviderBody, type ProviderResponse } from './provider.schemas.js';
import {
  appointmentTypeSnapshot,
  facilitySnapshot,
  providerSnapshot,
  toAppointmentTypeResponse,
  toFacilityResponse,
  toProviderResponse,
} from './views.js';

// The generated delegates take richer, generic arguments; the catalog only uses this common subset of them.
const delegateOf = <Row>(delegate: unknown) => delegate as CatalogDelegate<Row>;

/** Providers: searched by first, middle, last and alternative name. */
export const providerKind: CatalogKind<Provider, ProviderResponse> = {
  noun: 'provider',
  table: 'provider',
  delegate: (db) => delegateOf<Provider>(db.provider),
  searchFields: ['firstname', 'middlename', 'lastname', 'alternativeName'],
  orderBy: [{ lastname: 'asc' }, { firstname: 'asc' }, { id: 'asc' }],
  toResponse: toProviderResponse,
  created: (row, context) => createEvent(providerCreatedV1, { ...context, data: providerSnapshot(row) }),
  updated: (row, changed, context) => createEvent(providerUpdatedV1, { ...context, data: { ...providerSnapshot(row), changed } }),
  deleted: (row, context) => createEvent(providerDeletedV1, { ...context, data: { _id: row.id } }),
};

/** Facilities: searched by name and alternative name. */
export const facilityKind: CatalogKind<Facility, FacilityResponse> = {
  noun: 'facility',
  table: 'facility',
  delegate: (db) => delegateOf<Facility>(db.facility),
  searchFields: ['name', 'alternativeName'],
  orderBy: [{ name: 'asc' }, { id: 'asc' }],
  toResponse: toFacilityResponse,
  created: (row, context) => createEvent(facilityCreatedV1, { ...context, data: facilitySnapshot(row) }),
  updated: (row, changed, context) => createEvent(facilityUpdatedV1, { ...context, data: { ...facilitySnapshot(row), changed } }),
  deleted: (row, context) => createEvent(facilityDeletedV1, { ...context, data: { _id: row.id } }),
};

/** Appointment types: searched by name and alternative name. */
export const appointmentTypeKind: CatalogKind<AppointmentType, AppointmentTypeResponse> = {
  noun: 'appointment type',
  table: 'appointment_type',
  delegate: (db) => delegateOf<AppointmentType>(db.appointmentType),
  searchFields: ['name', 'alternativeName'],
  orderBy: [{ name: 'asc' }, { id: 'asc' }],
  toResponse: toAppointmentTypeResponse,
  created: (row, context) => createEvent(appointmentTypeCreatedV1, { ...context, data: appointmentTypeSnapshot(row) }),
  updated: (row, changed, context) =>
    createEvent(appointmentTypeUpdatedV1, { ...context, data: { ...appointmentTypeSnapshot(row), changed } }),
  deleted: (row, context) => createEvent(appointmentTypeDeletedV1, { ...context, data: { _id: row.id } }),
};

/** Routes of the `providers`, `facilities` and `appointmentTypes` groups. */
export function registerCatalogGroups(app: ServiceApp, prisma: PrismaClient, eventsWritten: () => void): void {
  registerCatalogRoutes(app, new CatalogService(prisma, providerKind, eventsWritten), {
    group: 'providers',
    singular: 'a provider',
    plural: 'providers',
    createBody: createProviderBody,
    updateBody: updateProviderBody,
    response: providerResponse,
    createData: (body) => body,
    updateData: (body) => body,
    crudList: true,
  });
  registerCatalogRoutes(app, new CatalogService(prisma, facilityKind, eventsWritten), {
    group: 'facilities',
    singular: 'a facility',
    plural: 'facilities',
    createBody: createFacilityBody,
    updateBody: updateFacilityBody,
    response: facilityResponse,
    createData: (body) => body,
    updateData: (body) => body,
    crudList: false,
  });
  registerCatalogRoutes(app, new CatalogService(prisma, appointmentTypeKind, eventsWritten), {
    group: 'appointmentTypes',
    singular: 'an appointment type',
    plural: 'appointment types',
    createBody: createAppointmentTypeBody,
    updateBody: updateAppointmentTypeBody,
    response: appointmentTypeResponse,
    createData: (body) => body,
    updateData: (body) => body,
    crudList: true,
  });
}
