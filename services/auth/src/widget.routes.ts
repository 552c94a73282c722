import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { clientAddress } from './client-address.js';
import { ADMIN, whoMayCall } from './roles.js';
import { idParams, listOf, listQuery } from './user.schemas.js';
import { createWidgetBody, updateWidgetBody, widgetLoginBody, widgetResponse, widgetTokenResponse, widgetUserResponse } from './widget.schemas.js';
import type { WidgetService } from './widget.service.js';

const TAGS = ['widgets'];
const WIDGET = ['widget'] as const;

/** Routes of the `widgets` group: widget logins and profiles, and the small surface admins manage widget keys with. */
export function registerWidgetRoutes(app: ServiceApp, widgets: WidgetService): void {
  app.post(
    '/api/widgets/login',
    {
      schema: {
        tags: TAGS,
        summary: 'Log in as a booking widget',
        description:
          'Exchanges a widget key (from POST /api/widgets) for a short-lived access token of kind widget carrying the widget ' +
          'role only; no refresh token, log in again. The key is public, since it sits in the clinic’s web page: when the ' +
          'widget lists allowed origins, the request’s Origin must be one of them. Unknown or inactive keys and refused ' +
          `origins answer the same 401; every login counts against the caller’s address (429 past the limit). ${whoMayCall('public')}`,
        body: widgetLoginBody,
        response: { 200: widgetTokenResponse },
      },
    },
    async (request) => widgets.login(request.body.key, request.headers.origin, clientAddress(request)),
  );

  app.get(
    '/api/widgets/user',
    {
      schema: {
        tags: TAGS,
        summary: 'The widget a token speaks for',
        description: `The widget and its organization, from the caller’s widget token. ${whoMayCall(WIDGET)}`,
        response: { 200: widgetUserResponse },
      },
    },
    async (request) => widgets.user(requireIdentity(request, WIDGET)),
  );

  for (const [url, hide] of [['/api/widgets', false], ['/api/widgets/', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: "The organization's booking widgets",
          description: `Paged with page/limit. Not part of the v1 list: admins need it to hand out widget keys. ${whoMayCall(ADMIN)}`,
          querystring: listQuery,
          response: { 200: listOf(widgetResponse) },
        },
      },
      async (request) => widgets.list(requireIdentity(request, ADMIN), request.query),
    );
    app.post(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Register a booking widget',
          description: `Answers the widget with its public key for the embed snippet. Not part of the v1 list. ${whoMayCall(ADMIN)}`,
          body: createWidgetBody,
          response: { 200: widgetResponse },
        },
      },
      async (request) => widgets.create(requireIdentity(request, ADMIN), request.body, request.id),
    );
  }

  app.put(
    '/api/widgets/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change a booking widget',
        description: `Rename, change allowed origins, or deactivate (its logins then fail). Not part of the v1 list. ${whoMayCall(ADMIN)}`,
        params: idParams,
        body: updateWidgetBody,
        response: { 200: widgetResponse },
      },
    },
    async (request) => widgets.update(requireIdentity(request, ADMIN), request.params.id, request.body, request.id),
  );
}
