import { callerOf, type ServiceApp } from '@pep/service-kit';
import { READERS, TEMPLATE_WRITERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';
import {
  createPatientTemplateBody,
  createTemplateBody,
  keyParams,
  messageTemplateResponse,
  patientTemplateListQuery,
  patientTemplateResponse,
  resolvedResponse,
  resolveQuery,
  templateListQuery,
  templateQuery,
  updatePatientTemplateBody,
  upsertTemplateBody,
} from './template.schemas.js';
import type { PatientTemplateService, TemplateService } from './template.service.js';
import { BUILT_IN_KEYS } from './templates.js';

const tags = ['messageTemplates'];
const VARIABLES =
  'Variables: {{patient.firstname}}, {{provider.name}}, {{facility.name}}, {{facility.phone}}, {{appointment.date}}, {{appointment.time}}, {{offer.expires}}, {{organization.name}}, {{booking.link}} (the booking page, else the facility’s phone), {{help}}.';

/** Routes of the `messageTemplates` group: the organization's wording over the built-in one. */
export function registerTemplateRoutes(app: ServiceApp, templates: TemplateService): void {
  app.post(
    '/api/messageTemplates',
    {
      config: { roles: TEMPLATE_WRITERS },
      schema: {
        tags,
        summary: 'Create a message template',
        description: `One per key and language: an existing one answers 409. Built-in keys (each shipped in English and Spanish): ${BUILT_IN_KEYS.join(', ')}. ${VARIABLES}`,
        body: createTemplateBody,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.create(callerOf(request), request.body),
  );
  app.get(
    '/api/messageTemplates',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'The wording in use for every key',
        description: "The organization's templates in a language, and the built-in wording of keys it has not replaced (`_id` null).",
        querystring: templateListQuery.omit({ key: true }),
        response: { 200: listOf(messageTemplateResponse) },
      },
    },
    async (request) => templates.effective(callerOf(request), request.query),
  );

  app.get(
    '/api/messageTemplates/list',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: "The organization's own templates",
        description: 'Paged, by key.',
        querystring: templateListQuery,
        response: { 200: listOf(messageTemplateResponse) },
      },
    },
    async (request) => templates.list(callerOf(request), request.query),
  );

  app.get(
    '/api/messageTemplates/:key',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'The wording in use for a key',
        description:
          "The organization's template in the language (else in English), else the built-in wording; 404 for a key with neither.",
        params: keyParams,
        querystring: templateQuery,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.get(callerOf(request), request.params.key, request.query.language),
  );

  app.post(
    '/api/messageTemplates/:key',
    {
      config: { roles: TEMPLATE_WRITERS },
      schema: {
        tags,
        summary: 'Create or replace the template of a key',
        description: `For the body's language (default en). ${VARIABLES}`,
        params: keyParams,
        body: upsertTemplateBody,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.upsert(callerOf(request), request.params.key, request.body),
  );

  app.get(
    '/api/messageTemplates/:key/resolve',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Render a template',
        description:
          "As it would be sent to the patient about the appointment: dates and times in the facility's time zone and the patient's language. A patient or " +
          'appointment not of the organization answers 404; one whose details have not reached messaging yet, 503 with Retry-After.',
        params: keyParams,
        querystring: resolveQuery,
        response: { 200: resolvedResponse },
      },
    },
    async (request) => templates.resolve(callerOf(request), request.params.key, request.query),
  );

  app.delete(
    '/api/messageTemplates/:id',
    {
      config: { roles: TEMPLATE_WRITERS },
      schema: {
        tags,
        summary: 'Delete a template',
        description: 'The built-in wording applies again.',
        params: idParams,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.remove(callerOf(request), request.params.id),
  );
}

/** Routes of the `patientMessageTemplates` group: canned replies. */
export function registerPatientTemplateRoutes(app: ServiceApp, templates: PatientTemplateService): void {
  const group = ['patientMessageTemplates'];
  app.get(
    '/api/patientMessageTemplates',
    {
      config: { roles: READERS },
      schema: {
        tags: group,
        summary: 'Canned replies',
        description: 'Paged, by name.',
        querystring: patientTemplateListQuery,
        response: { 200: listOf(patientTemplateResponse) },
      },
    },
    async (request) => templates.list(callerOf(request), request.query),
  );
  app.post(
    '/api/patientMessageTemplates',
    {
      config: { roles: WRITERS },
      schema: {
        tags: group,
        summary: 'Create a canned reply',
        body: createPatientTemplateBody,
        response: { 200: patientTemplateResponse },
      },
    },
    async (request) => templates.create(callerOf(request), request.body),
  );
  app.get(
    '/api/patientMessageTemplates/:id',
    {
      config: { roles: READERS },
      schema: { tags: group, summary: 'Get a canned reply', params: idParams, response: { 200: patientTemplateResponse } },
    },
    async (request) => templates.get(callerOf(request), request.params.id),
  );
  app.put(
    '/api/patientMessageTemplates/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags: group,
        summary: 'Change a canned reply',
        params: idParams,
        body: updatePatientTemplateBody,
        response: { 200: patientTemplateResponse },
      },
    },
    async (request) => templates.update(callerOf(request), request.params.id, request.body),
  );
  app.delete(
    '/api/patientMessageTemplates/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags: group,
        summary: 'Delete a canned reply',
        description: 'Soft delete.',
        params: idParams,
        response: { 200: patientTemplateResponse },
      },
    },
    async (request) => templates.remove(callerOf(request), request.params.id),
  );
}
