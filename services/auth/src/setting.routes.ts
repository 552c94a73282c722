import { callerOf, type ServiceApp } from '@pep/service-kit';
import { SETTING_WRITERS, STAFF } from './roles.js';
import { createSettingBody, messageKeyParams, settingListQuery, settingResponse, updateSettingBody } from './setting.schemas.js';
import type { SettingService } from './setting.service.js';
import { idParams, listOf } from './user.schemas.js';

const TAGS = ['settings'];
const SUBSCRIPTION = 'Admins and managers, and a user for the setting about themselves (ref user).';

/** Routes of the `settings` group. Every record belongs to the caller's organization; others answer 404. */
export function registerSettingRoutes(app: ServiceApp, settings: SettingService): void {
  app.get(
    '/api/settings',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's settings",
        description: 'Paged with page/limit; filter by ref and refId.',
        querystring: settingListQuery,
        response: { 200: listOf(settingResponse) },
      },
    },
    async (request) => settings.list(callerOf(request), request.query),
  );
  app.post(
    '/api/settings',
    {
      config: { roles: SETTING_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Create the settings of a subject',
        description:
          "One record per subject (ref and refId); a second answers 409. The subject must be the organization's user, provider, facility, " +
          'appointment type or integrator client, else 404 naming body.refId (503 with Retry-After when scheduling cannot be asked). ' +
          'Documented keys of `settings` are validated, others kept as given.',
        body: createSettingBody,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/settings/:id',
    { config: { roles: STAFF }, schema: { tags: TAGS, summary: 'Get a setting', params: idParams, response: { 200: settingResponse } } },
    async (request) => settings.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/settings/:id',
    {
      config: { roles: SETTING_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Change a setting',
        description: '`settings` replaces the stored object whole.',
        params: idParams,
        body: updateSettingBody,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/settings/:id',
    {
      config: { roles: SETTING_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Delete a setting',
        description: 'Answers the deleted record.',
        params: idParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.remove(callerOf(request), request.params.id, request.id),
  );

  app.put(
    '/api/settings/:id/subscribe/:messageKey',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Subscribe to a message key again',
        description: `Takes the key off the unsubscribed list and lifts a blanket unsubscribe. ${SUBSCRIPTION}`,
        params: messageKeyParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.subscribe(callerOf(request), request.params.id, request.params.messageKey, request.id),
  );

  app.put(
    '/api/settings/:id/unsubscribe',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Unsubscribe from every message',
        description: SUBSCRIPTION,
        params: idParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.unsubscribe(callerOf(request), request.params.id, undefined, request.id),
  );

  app.put(
    '/api/settings/:id/unsubscribe/:messageKey',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Unsubscribe from a message key',
        description: `Adds the key to the unsubscribed list. ${SUBSCRIPTION}`,
        params: messageKeyParams,
        response: { 200: settingResponse },
      },
    },
    async (request) => settings.unsubscribe(callerOf(request), request.params.id, request.params.messageKey, request.id),
  );
}
