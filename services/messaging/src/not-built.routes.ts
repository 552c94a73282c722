import { HttpProblem, type ServiceApp } from '@pep/service-kit';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * v1 endpoints messaging owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway see
 * an honest "not built" instead of a stand-in answer.
 */
export const NOT_BUILT: ReadonlyArray<readonly [Method, string]> = [
  ['POST', '/api/admin/shorten'],
  ['GET', '/api/broadcasts'],
  ['POST', '/api/broadcasts'],
  ['DELETE', '/api/broadcasts/:id'],
  ['GET', '/api/broadcasts/:id'],
  ['PUT', '/api/broadcasts/:id'],
  ['GET', '/api/broadcasts/:id/xls'],
  ['POST', '/api/broadcasts/bulk/action'],
  ['GET', '/api/broadcasts/count'],
  ['GET', '/api/broadcasts/patients'],
  ['GET', '/api/callback/email/offers'],
  ['GET', '/api/callback/email/reminders'],
  ['POST', '/api/callback/email/sendgrid'],
  ['GET', '/api/callback/plivo/sms/reminders'],
  ['POST', '/api/callback/slack'],
  ['GET', '/api/callback/sms/referrals'],
  ['POST', '/api/callback/status/:vendor'],
  ['GET', '/api/callback/voice/offers'],
  ['GET', '/api/callback/voice/referrals'],
  ['POST', '/api/callback/voice/referrals'],
  ['GET', '/api/callback/voice/reminders'],
  ['GET', '/api/chatActivities'],
  ['PUT', '/api/chatActivities/:id/assign'],
  ['PUT', '/api/chatActivities/:id/clear'],
  ['PUT', '/api/chatActivities/:id/close'],
  ['GET', '/api/chatActivities/all'],
  ['GET', '/api/chatActivities/mentions'],
  ['GET', '/api/chatActivities/presence'],
  ['GET', '/api/chatActivities/unread'],
  ['GET', '/api/chatActivities/unread/patients'],
  ['GET', '/api/contexts/:refId'],
  ['GET', '/api/feedbackResponses'],
  ['POST', '/api/feedbackResponses/negative'],
  ['GET', '/api/feedbackResponses/negative/:id'],
  ['POST', '/api/feedbackResponses/positive'],
  ['GET', '/api/feedbackResponses/positive/:id'],
  ['GET', '/api/feedbackResponses/promoters|detractors'],
  ['GET', '/api/feedbackResponses/reports/clicks'],
  ['GET', '/api/feedbackResponses/reports/detractors'],
  ['GET', '/api/feedbackResponses/reports/find'],
  ['GET', '/api/feedbackResponses/reports/findAll'],
  ['GET', '/api/feedbackResponses/reports/npsscore'],
  ['GET', '/api/feedbackResponses/reports/npsscores'],
  ['GET', '/api/feedbackResponses/reports/promoters'],
  ['GET', '/api/feedbackResponses/reports/summary'],
  ['GET', '/api/feedbackResponses/reports/xls'],
  ['POST', '/api/feedbackResponses/score'],
  ['GET', '/api/followups'],
  ['POST', '/api/followups'],
  ['DELETE', '/api/followups/:id'],
  ['GET', '/api/followups/:id'],
  ['PUT', '/api/followups/:id'],
  ['POST', '/api/followups/bulk'],
  ['GET', '/api/followups/groups'],
  ['GET', '/api/messages-errors'],
  ['GET', '/api/messages-errors/reports/xls'],
  ['GET', '/api/notifications'],
  ['PUT', '/api/notifications/clear'],
  ['GET', '/api/phoneNumbers/:phone'],
  ['GET', '/api/reminders/reports/xls'],
];

const COLLECTIONS = new Set(['/api/broadcasts', '/api/chatActivities', '/api/feedbackResponses', '/api/followups', '/api/messages-errors', '/api/notifications']);

/** Registers every {@link NOT_BUILT} endpoint (and the trailing-slash form of collection roots) as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  for (const [method, url] of NOT_BUILT) {
    const urls = COLLECTIONS.has(url) ? [url, `${url}/`] : [url];
    urls.forEach((path, index) =>
      app.route({
        method,
        url: path,
        schema: {
          hide: index > 0,
          tags: [url.split('/')[2] ?? 'messaging'],
          summary: 'Not built yet',
          description: 'Part of the v1 API owned by the messaging service; answers 501 until it is built.',
        },
        handler: async () => {
          throw new HttpProblem(501, 'not-implemented', `${method} ${url} is not built yet.`);
        },
      }),
    );
  }
}
