import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { SETTING_WRITERS, STAFF, whoMayCall } from './roles.js';
import { createSettingBody, messageKeyParams, settingListQuery, settingResponse, updateSettingBody } from './setting.schemas.js';
import type { SettingService } from './setting.service.js';
import { idParams, listOf } from './user.schemas.js';

const TAGS = ['settings'];
const SUBSCRIPTION = `Admins and managers, and a user for the setting about themselves (ref user). ${whoMayCall(STAFF)}`;

/** Routes of the `settings` group. Every record belongs to the caller's organization; others answer 404. */
export function registerSettingRoutes(app: ServiceApp, settings: SettingService): void {
  for (const [url, hide] of [['/api/settings', false], ['/api/settings/', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: "The organization's settings",
          description: `Paged with page/limit; filter by ref and refId. ${whoMayCall(STAFF)}`,
          querystring: settingListQuery,
          response: { 200: listOf(settingResponse) },
        },
      },
      async (request) => settings.list(requireIdentity(request, STAFF), request.query),
    );
    app.post(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Create the settings of a subject',
          description:
            "One record per subject (ref and refId); a second answers 409. The subject must be the organization's user, provider, facility, " +
            'appointment type or integrator client, else 404 naming body.refId (503 with Retry-After when scheduling cannot be asked). ' +
            `Documented keys of \`settings\` are validated, others kept as given. ${whoMayCall(SETTING_WRITERS)}`,
          body: createSettingBody,
          response: { 200: settingResponse },
        },
      },
      async (request) => settings.create(requireIdentity(request, SETTING_WRITERS), request.body, request.id),
    );
  }

  app.get(
    '/api/settings/:id',
    { schema: { tags: TAGS, summary: 'Get a setting', description: whoMayCall(STAFF), params: idParams, response: { 200: settingResponse } } },
    async (request) => settings.get(requireIdentity(request, STAFF), request.params.id),
  );

  app.put(
    '/api/settings/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change a setting',
        description: `\`settings\` replaces the stored object whole. ${whoMayCall(SETTING_WRITERS)}`,
        params: idParams,
        body: updateSettingBody,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.update(requireIdentity(request, SETTING_WRITERS), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/settings/:id',
    {
      schema: { tags: TAGS, summary: 'Delete a setting', description: `Answers the deleted record. ${whoMayCall(SETTING_WRITERS)}`, params: idParams, response: { 200: settingResponse } },
    },
    async (request) => settings.remove(requireIdentity(request, SETTING_WRITERS), request.params.id, request.id),
  );

  app.put(
    '/api/settings/:id/subscribe/:messageKey',
    {
      schema: {
        tags: TAGS,
        summary: 'Subscribe to a message key again',
        description: `Takes the key off the unsubscribed list and lifts a blanket unsubscribe. ${SUBSCRIPTION}`,
        params: messageKeyParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.subscribe(requireIdentity(request, STAFF), request.params.id, request.params.messageKey, request.id),
  );

  app.put(
    '/api/settings/:id/unsubscribe',
    {
      schema: { tags: TAGS, summary: 'Unsubscribe from every message', description: SUBSCRIPTION, params: idParams, response: { 200: settingResponse } },
    },
    async (request) => settings.unsubscribe(requireIdentity(request, STAFF), request.params.id, undefined, request.id),
  );

  app.put(
    '/api/settings/:id/unsubscribe/:messageKey',
    {
      schema: {
        tags: TAGS,
        summary: 'Unsubscribe from a message key',
        description: `Adds the key to the unsubscribed list. ${SUBSCRIPTION}`,
        params: messageKeyParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.unsubscribe(requireIdentity(request, STAFF), request.params.id, request.params.messageKey, request.id),
  );
}

