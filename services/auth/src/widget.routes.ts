import { callerOf, type ServiceApp } from '@pep/service-kit';
import { clientAddress } from './client-address.js';
import { ADMIN } from './roles.js';
import { idParams, listOf, listQuery } from './user.schemas.js';
import {
  createWidgetBody,
  updateWidgetBody,
  widgetLoginBody,
  widgetResponse,
  widgetTokenResponse,
  widgetUserResponse,
} from './widget.schemas.js';
import type { WidgetService } from './widget.service.js';

const TAGS = ['widgets'];
const WIDGET = ['widget'] as const;

/** Routes of the `widgets` group: widget logins and profiles, and the small surface admins manage widget keys with. */
export function registerWidgetRoutes(app: ServiceApp, widgets: WidgetService): void {
  app.post(
    '/api/widgets/login',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Log in as a booking widget',
        description:
          'Exchanges a widget key (from POST /api/widgets) for a short-lived access token of kind widget carrying the widget ' +
          'role only; no refresh token, log in again. The key is public, since it sits in the clinic’s web page: when the ' +
          'widget lists allowed origins, the request’s Origin must be one of them. Unknown or inactive keys and refused ' +
          'origins answer the same 401; every login counts against the caller’s address (429 past the limit).',
        body: widgetLoginBody,
        response: { 200: widgetTokenResponse },
      },
    },
    async (request) => widgets.login(request.body.key, request.headers.origin, clientAddress(request)),
  );

  app.get(
    '/api/widgets/user',
    {
      config: { roles: WIDGET },
      schema: {
        tags: TAGS,
        summary: 'The widget a token speaks for',
        description: 'The widget and its organization, from the caller’s widget token.',
        response: { 200: widgetUserResponse },
      },
    },
    async (request) => widgets.user(callerOf(request)),
  );

  app.get(
    '/api/widgets',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: "The organization's booking widgets",
        description: 'Paged with page/limit. Not part of the v1 list: admins need it to hand out widget keys.',
        querystring: listQuery,
        response: { 200: listOf(widgetResponse) },
      },
    },
    async (request) => widgets.list(callerOf(request), request.query),
  );
  app.post(
    '/api/widgets',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Register a booking widget',
        description: 'Answers the widget with its public key for the embed snippet. Not part of the v1 list.',
        body: createWidgetBody,
        response: { 200: widgetResponse },
      },
    },
    async (request) => widgets.create(callerOf(request), request.body, request.id),
  );

  app.put(
    '/api/widgets/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Change a booking widget',
        description: 'Rename, change allowed origins, or deactivate (its logins then fail). Not part of the v1 list.',
        params: idParams,
        body: updateWidgetBody,
        response: { 200: widgetResponse },
      },
    },
    async (request) => widgets.update(callerOf(request), request.params.id, request.body, request.id),
  );
}
