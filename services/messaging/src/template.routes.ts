import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { READERS, TEMPLATE_WRITERS, whoMayCall, WRITERS } from './roles.js';
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
const VARIABLES = 'Variables: {{patient.firstname}}, {{provider.name}}, {{facility.name}}, {{appointment.date}}, {{appointment.time}}, {{offer.expires}}, {{help}}.';

/** Routes of the `messageTemplates` group: the organization's wording over the built-in one. */
export function registerTemplateRoutes(app: ServiceApp, templates: TemplateService): void {
  for (const [url, hide] of [['/api/messageTemplates', false], ['/api/messageTemplates/', true]] as const) {
    app.post(
      url,
      {
        schema: {
          hide,
          tags,
          summary: 'Create a message template',
          description: `One per key and language: an existing one answers 409. Built-in keys (each shipped in English and Spanish): ${BUILT_IN_KEYS.join(', ')}. ${VARIABLES} ${whoMayCall(TEMPLATE_WRITERS)}`,
          body: createTemplateBody,
          response: { 200: messageTemplateResponse },
        },
      },
      async (request) => templates.create(requireIdentity(request, TEMPLATE_WRITERS), request.body),
    );
    app.get(
      url,
      {
        schema: {
          hide,
          tags,
          summary: 'The wording in use for every key',
          description: `The organization's templates in a language, and the built-in wording of keys it has not replaced (\`_id\` null). ${whoMayCall(READERS)}`,
          querystring: templateListQuery.omit({ key: true }),
          response: { 200: listOf(messageTemplateResponse) },
        },
      },
      async (request) => templates.effective(requireIdentity(request, READERS), request.query),
    );
  }

  app.get(
    '/api/messageTemplates/list',
    {
      schema: { tags, summary: "The organization's own templates", description: `Paged, by key. ${whoMayCall(READERS)}`, querystring: templateListQuery, response: { 200: listOf(messageTemplateResponse) } },
    },
    async (request) => templates.list(requireIdentity(request, READERS), request.query),
  );

  app.get(
    '/api/messageTemplates/:key',
    {
      schema: {
        tags,
        summary: 'The wording in use for a key',
        description: `The organization's template in the language (else in English), else the built-in wording; 404 for a key with neither. ${whoMayCall(READERS)}`,
        params: keyParams,
        querystring: templateQuery,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.get(requireIdentity(request, READERS), request.params.key, request.query.language),
  );

  app.post(
    '/api/messageTemplates/:key',
    {
      schema: {
        tags,
        summary: 'Create or replace the template of a key',
        description: `For the body's language (default en). ${VARIABLES} ${whoMayCall(TEMPLATE_WRITERS)}`,
        params: keyParams,
        body: upsertTemplateBody,
        response: { 200: messageTemplateResponse },
      },
    },
    async (request) => templates.upsert(requireIdentity(request, TEMPLATE_WRITERS), request.params.key, request.body),
  );

  app.get(
    '/api/messageTemplates/:key/resolve',
    {
      schema: {
        tags,
        summary: 'Render a template',
        description:
          "As it would be sent to the patient about the appointment: dates and times in the facility's time zone and the patient's language. A patient or " +
          "appointment not of the organization answers 404; one whose details have not reached messaging yet, 503 with Retry-After. " +
          whoMayCall(READERS),
        params: keyParams,
        querystring: resolveQuery,
        response: { 200: resolvedResponse },
      },
    },
    async (request) => templates.resolve(requireIdentity(request, READERS), request.params.key, request.query),
  );

  app.delete(
    '/api/messageTemplates/:id',
    {
      schema: { tags, summary: 'Delete a template', description: `The built-in wording applies again. ${whoMayCall(TEMPLATE_WRITERS)}`, params: idParams, response: { 200: messageTemplateResponse } },
    },
    async (request) => templates.remove(requireIdentity(request, TEMPLATE_WRITERS), request.params.id),
  );
}

/** Routes of the `patientMessageTemplates` group: canned replies. */
export function registerPatientTemplateRoutes(app: ServiceApp, templates: PatientTemplateService): void {
  const group = ['patientMessageTemplates'];
  for (const [url, hide] of [['/api/patientMessageTemplates', false], ['/api/patientMessageTemplates/', true]] as const) {
    app.get(
      url,
      { schema: { hide, tags: group, summary: 'Canned replies', description: `Paged, by name. ${whoMayCall(READERS)}`, querystring: patientTemplateListQuery, response: { 200: listOf(patientTemplateResponse) } } },
      async (request) => templates.list(requireIdentity(request, READERS), request.query),
    );
    app.post(
      url,
      { schema: { hide, tags: group, summary: 'Create a canned reply', description: whoMayCall(WRITERS), body: createPatientTemplateBody, response: { 200: patientTemplateResponse } } },
      async (request) => templates.create(requireIdentity(request, WRITERS), request.body),
    );
  }
  app.get(
    '/api/patientMessageTemplates/:id',
    { schema: { tags: group, summary: 'Get a canned reply', description: whoMayCall(READERS), params: idParams, response: { 200: patientTemplateResponse } } },
    async (request) => templates.get(requireIdentity(request, READERS), request.params.id),
  );
  app.put(
    '/api/patientMessageTemplates/:id',
    { schema: { tags: group, summary: 'Change a canned reply', description: whoMayCall(WRITERS), params: idParams, body: updatePatientTemplateBody, response: { 200: patientTemplateResponse } } },
    async (request) => templates.update(requireIdentity(request, WRITERS), request.params.id, request.body),
  );
  app.delete(
    '/api/patientMessageTemplates/:id',
    { schema: { tags: group, summary: 'Delete a canned reply', description: `Soft delete. ${whoMayCall(WRITERS)}`, params: idParams, response: { 200: patientTemplateResponse } } },
    async (request) => templates.remove(requireIdentity(request, WRITERS), request.params.id),
  );
}
