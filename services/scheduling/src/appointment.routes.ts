import { callerOf, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import {
  appointmentListQuery,
  appointmentResponse,
  createAppointmentBody,
  patientAppointmentsQuery,
  summaryQuery,
  summaryResponse,
  updateAppointmentBody,
} from './appointment.schemas.js';
import type { AppointmentService } from './appointment.service.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['appointments'];
const page = listOf(appointmentResponse);
// Confirm and cancel take no body; an empty object is accepted from clients that always send one.
const noBody = z.object({}).strict().nullish();
// Answers naming the patient of each appointment are audited (ADR 0040). Creation is not: its answer holds only what the
// caller sent; a change by id is, as its answer shows an appointment the caller named only by its id.
const readsPatients = patientsInAnswer('patient');
const FILTERS =
  'Filter by provider, facility, type, status, and date with comparisons: `date=>2026-01-01T00:00:00Z&date=<2026-02-01T00:00:00Z`.';

/** Routes of the `appointments` group that are built. Every record belongs to the caller's organization; others answer 404. */
export function registerAppointmentRoutes(app: ServiceApp, appointments: AppointmentService): void {
  app.get(
    '/api/appointments',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Appointments',
        description: `Paged with page/limit, soonest first. ${FILTERS} Also by patient (one of the organization's, 404 otherwise).`,
        querystring: appointmentListQuery,
        response: { 200: page },
      },
    },
    async (request) => appointments.list(callerOf(request), request.query),
  );
  app.post(
    '/api/appointments',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Book an appointment',
        description:
          'Answers 200 with the created appointment. Patient, provider, facility and type must be live records of the organization (else 404 naming the field for the patient, 400 ' +
          'for the others; 503 with Retry-After when the patients service cannot be asked about a patient created a moment ago); ' +
          'a provider already booked at that time answers 409 unless the organization allows double booking.',
        body: createAppointmentBody,
        response: { 200: appointmentResponse },
      },
    },
    async (request) => appointments.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/appointments/crudList',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        tags,
        summary: 'Appointments, for administration screens',
        description: 'As the list, with the same filters.',
        querystring: appointmentListQuery,
        response: { 200: page },
      },
    },
    async (request) => appointments.list(callerOf(request), request.query),
  );

  app.get(
    '/api/appointments/summary',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Counts of appointments by status',
        description: `${FILTERS}`,
        querystring: summaryQuery,
        response: { 200: summaryResponse },
      },
    },
    async (request) => appointments.summary(callerOf(request), request.query),
  );

  app.get(
    '/api/appointments/getByPatientId/:id',
    {
      config: { roles: READERS, readsPatients },
      schema: {
        operationId: 'listPatientAppointments',
        tags,
        summary: "A patient's appointments",
        description: "Paged, soonest first; the same filters as the list. A patient that is not the organization's answers 404.",
        params: idParams,
        querystring: patientAppointmentsQuery,
        response: { 200: page },
      },
    },
    async (request) => appointments.ofPatient(callerOf(request), request.params.id, request.query),
  );

  app.get(
    '/api/appointments/:id',
    {
      config: { roles: READERS, readsPatients },
      schema: { tags, summary: 'Get an appointment', params: idParams, response: { 200: appointmentResponse } },
    },
    async (request) => appointments.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/appointments/:id',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Change or move an appointment',
        description:
          'Changes provider, facility, type, date or duration; a cancelled appointment answers 409, and a move onto a busy provider 409. ' +
          'Status changes go through confirm and cancel. `outcome` (no-show, completed) records what became of it once it started.',
        params: idParams,
        body: updateAppointmentBody,
        response: { 200: appointmentResponse },
      },
    },
    async (request) => appointments.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/appointments/:id',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Delete an appointment',
        description: 'Soft delete: answers the appointment with deleted 1 and frees its slot.',
        params: idParams,
        response: { 200: appointmentResponse },
      },
    },
    async (request) => appointments.remove(callerOf(request), request.params.id, request.id),
  );

  app.put(
    '/api/appointments/:id/confirm',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Confirm an appointment',
        description: 'Confirming a confirmed appointment changes nothing; a cancelled one answers 409.',
        params: idParams,
        body: noBody,
        response: { 200: appointmentResponse },
      },
    },
    async (request) => appointments.confirm(callerOf(request), request.params.id, request.id),
  );

  app.put(
    '/api/appointments/:id/cancel',
    {
      config: { roles: WRITERS, readsPatients },
      schema: {
        tags,
        summary: 'Cancel an appointment',
        description: 'Frees the slot; cancelling a cancelled appointment changes nothing.',
        params: idParams,
        body: noBody,
        response: { 200: appointmentResponse },
      },
    },
    async (request) => appointments.cancel(callerOf(request), request.params.id, request.id),
  );
}
