import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { createDemoUserBody, demoMessageBody, demoMessageParams, demoMessageResponse, demoUserResponse } from './demo-user.schemas.js';
import type { DemoUserService } from './demo-user.service.js';
import { PLATFORM_ADMIN, whoMayCall } from './roles.js';

const TAGS = ['demoUsers'];

/** Routes of the `demoUsers` group: sales (platform admins) set up trials for prospects. */
export function registerDemoUserRoutes(app: ServiceApp, demos: DemoUserService): void {
  for (const [url, hide] of [['/api/demoUsers', false], ['/api/demoUsers/', true]] as const) {
    app.post(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Create a demo organization and user for a prospect',
          description:
            'Creates a trial organization (marked demo) with the prospect as its admin, found later by `salesforceId`. The ' +
            'user starts pending and is e-mailed a link (valid 7 days) to choose a password. A taken e-mail or salesforceId ' +
            `answers 409. ${whoMayCall(PLATFORM_ADMIN)}`,
          body: createDemoUserBody,
          response: { 200: demoUserResponse },
        },
      },
      async (request) => {
        requireIdentity(request, PLATFORM_ADMIN);
        return demos.create(request.body, request.id);
      },
    );
  }

  app.post(
    '/api/demoUsers/:salesforceId/messages/:messageTemplate',
    {
      schema: {
        tags: TAGS,
        summary: 'Send a demo user a sample message',
        description:
          'Messaging owns sending, so auth records the request as a demo-user.message-requested event and messaging renders ' +
          'the template (its key, e.g. reminder) for the demo organization and sends it: by e-mail to the demo user (the ' +
          'default, the body may be omitted) or by SMS to `phone`. The answer says the request was recorded; messaging’s ' +
          `message.sent or message.failed events tell the outcome. An unknown salesforceId answers 404. ${whoMayCall(PLATFORM_ADMIN)}`,
        params: demoMessageParams,
        body: demoMessageBody,
        response: { 200: demoMessageResponse },
      },
    },
    async (request) => {
      const identity = requireIdentity(request, PLATFORM_ADMIN);
      return demos.requestMessage(identity, request.params.salesforceId, request.params.messageTemplate, request.body ?? { channel: 'email' }, request.id);
    },
  );
}
