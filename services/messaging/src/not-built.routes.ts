import { registerNotBuilt, type Endpoint, type ServiceApp } from '@pep/service-kit';

/**
 * v1 endpoints messaging owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway see
 * an honest "not built" instead of a stand-in answer.
 */
export const NOT_BUILT: ReadonlyArray<Endpoint> = [
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
  ['POST', '/api/callback/email/sendgrid'],
  ['GET', '/api/callback/plivo/sms/reminders'],
  ['POST', '/api/callback/slack'],
  ['GET', '/api/callback/sms/referrals'],
  ['POST', '/api/callback/status/:vendor'],
  ['GET', '/api/callback/voice/referrals'],
  ['POST', '/api/callback/voice/referrals'],
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

/** Registers every {@link NOT_BUILT} endpoint as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  registerNotBuilt(app, 'messaging', NOT_BUILT);
}
