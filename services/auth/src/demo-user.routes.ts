import { callerOf, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { DemoSampleLinks } from './demo-sample-links.js';
import { sentPage } from './demo-sample.page.js';
import {
  createDemoUserBody,
  demoMessageBody,
  demoMessageParams,
  demoMessageQuery,
  demoMessageResponse,
  demoUserResponse,
} from './demo-user.schemas.js';
import type { DemoUserService } from './demo-user.service.js';
import { PLATFORM_ADMIN } from './roles.js';

const TAGS = ['demoUsers'];

const SAMPLE_DESCRIPTION =
  'Messaging owns sending, so auth records the request as a demo-user.message-requested event and messaging sends the sample by text ' +
  'to the demo account’s demo patient, whose phone is the salesperson’s (demoConfiguration.phone): never to anyone else, whatever ' +
  'the body says (`channel` and `phone` are accepted for older clients and ignored). The answer says the request was recorded; ' +
  'messaging’s message.sent or message.failed events tell the outcome. An unknown salesforceId or sample answers 404, a demo account ' +
  'without a demo patient 409, more than 30 samples an hour for one demo account 429.';

/** Query of GET of the sample path: the variant, and a signed link's expiry and signature (from `sampleLinks`). */
const demoLinkQuery = demoMessageQuery.extend({
  expires: z.coerce.number().int().optional().describe('Of a signed link: when it expires (ms since the epoch).'),
  signature: z.string().max(100).optional().describe('Of a signed link: its signature.'),
});

/** Routes of the `demoUsers` group: sales (platform admins) set up trials for prospects and show them sample messages. */
export function registerDemoUserRoutes(app: ServiceApp, demos: DemoUserService, links: DemoSampleLinks): void {
  app.post(
    '/api/demoUsers',
    {
      config: { roles: PLATFORM_ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Create a demo organization and user for a prospect, with a demo practice',
        description:
          'Creates a trial organization (marked demo) with the prospect as its admin, found later by `salesforceId`. The ' +
          'user starts pending and is e-mailed a link (valid 7 days) to choose a password. Then seeds a demo practice through ' +
          'the public API, sized by `demoConfiguration`: facilities, providers, two appointment types, two weeks of weekday ' +
          'working hours, patients (only the demo patient has a phone, the salesperson’s, so nothing the practice sends ' +
          'reaches anyone else), upcoming appointments from tomorrow and waitlisted patients. If seeding fails the answer ' +
          'is 503; the same e-mail and salesforceId sent again finish it, or answer the account once complete. Another ' +
          'account’s e-mail or salesforceId answers 409.',
        body: createDemoUserBody,
        response: { 200: demoUserResponse },
      },
    },
    async (request) => {
      const created = await demos.create(request.body, request.id);
      return { ...created, sampleLinks: links.linksFor(created.salesforceId) };
    },
  );

  const path = '/api/demoUsers/:salesforceId/messages/:messageTemplate';
  app.post(
    path,
    {
      config: { roles: PLATFORM_ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Send the demo patient a sample message',
        description: SAMPLE_DESCRIPTION,
        params: demoMessageParams,
        querystring: demoMessageQuery,
        body: demoMessageBody,
        response: { 200: demoMessageResponse },
      },
    },
    async (request) => {
      const identity = callerOf(request);
      const { salesforceId, messageTemplate } = request.params;
      return demos.requestMessage(identity.user, salesforceId, messageTemplate, request.query.type, request.id);
    },
  );

  app.get(
    path,
    {
      config: {
        roles: PLATFORM_ADMIN,
        // A browser opening a sample link carries no access token: the link's signature stands for the operator.
        anonymousIf: (request) => {
          const { salesforceId, messageTemplate } = request.params as z.output<typeof demoMessageParams>;
          const { expires, signature } = request.query as z.output<typeof demoLinkQuery>;
          return links.verify(salesforceId, messageTemplate, expires, signature);
        },
      },
      schema: {
        tags: TAGS,
        summary: 'Send the demo patient a sample message (a link opened in a browser)',
        description:
          `${SAMPLE_DESCRIPTION} Answers a small HTML page saying what was sent when the caller accepts text/html (a browser), ` +
          'the JSON below otherwise. A browser carries no access token, so it opens the signed link from `sampleLinks` of the ' +
          'demo user; with an access token no signature is needed.',
        params: demoMessageParams,
        querystring: demoLinkQuery,
        response: {
          200: {
            description: 'What was sent: JSON for an API caller, a small HTML page for a browser (`Accept: text/html`).',
            content: {
              'application/json': { schema: demoMessageResponse },
              'text/html': { schema: z.string().describe('An HTML page naming the sample and the demo patient it went to.') },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { salesforceId, messageTemplate } = request.params;
      // Without a caller the kit let the request in on its signed link, which stands for the operator who was given it.
      const requestedBy = request.identity ? callerOf(request).user : 'demo-link';
      const sent = await demos.requestMessage(requestedBy, salesforceId, messageTemplate, request.query.type, request.id);
      // The type provider knows only the JSON answer; a string with its own content type is sent as it is.
      if ((request.headers.accept ?? '').includes('text/html')) return reply.type('text/html; charset=utf-8').send(sentPage(sent) as never);
      return sent;
    },
  );
}
