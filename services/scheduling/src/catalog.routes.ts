import {
  appointmentTypeCreatedV1,
  appointmentTypeDeletedV1,
  appointmentTypeUpdatedV1,
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
import { about, CatalogService, registerCatalogRoutes, type CatalogDelegate, type CatalogKind } from './catalog.js';
import type { SchedulingWork } from './events.js';
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
  created: (emit, row) => emit(providerCreatedV1, { ...about(row), data: providerSnapshot(row) }),
  updated: (emit, row, changed) => emit(providerUpdatedV1, { ...about(row), data: { ...providerSnapshot(row), changed } }),
  deleted: (emit, row) => emit(providerDeletedV1, { ...about(row), data: { _id: row.id } }),
};

/** Facilities: searched by name and alternative name. */
export const facilityKind: CatalogKind<Facility, FacilityResponse> = {
  noun: 'facility',
  table: 'facility',
  delegate: (db) => delegateOf<Facility>(db.facility),
  searchFields: ['name', 'alternativeName'],
  orderBy: [{ name: 'asc' }, { id: 'asc' }],
  toResponse: toFacilityResponse,
  created: (emit, row) => emit(facilityCreatedV1, { ...about(row), data: facilitySnapshot(row) }),
  updated: (emit, row, changed) => emit(facilityUpdatedV1, { ...about(row), data: { ...facilitySnapshot(row), changed } }),
  deleted: (emit, row) => emit(facilityDeletedV1, { ...about(row), data: { _id: row.id } }),
};

/** Appointment types: searched by name and alternative name. */
export const appointmentTypeKind: CatalogKind<AppointmentType, AppointmentTypeResponse> = {
  noun: 'appointment type',
  table: 'appointment_type',
  delegate: (db) => delegateOf<AppointmentType>(db.appointmentType),
  searchFields: ['name', 'alternativeName'],
  orderBy: [{ name: 'asc' }, { id: 'asc' }],
  toResponse: toAppointmentTypeResponse,
  created: (emit, row) => emit(appointmentTypeCreatedV1, { ...about(row), data: appointmentTypeSnapshot(row) }),
  updated: (emit, row, changed) => emit(appointmentTypeUpdatedV1, { ...about(row), data: { ...appointmentTypeSnapshot(row), changed } }),
  deleted: (emit, row) => emit(appointmentTypeDeletedV1, { ...about(row), data: { _id: row.id } }),
};

/** Routes of the `providers`, `facilities` and `appointmentTypes` groups. */
export function registerCatalogGroups(app: ServiceApp, prisma: PrismaClient, work: SchedulingWork): void {
  registerCatalogRoutes(app, new CatalogService(prisma, providerKind, work), {
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
  registerCatalogRoutes(app, new CatalogService(prisma, facilityKind, work), {
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
  registerCatalogRoutes(app, new CatalogService(prisma, appointmentTypeKind, work), {
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
