import { registerNotBuilt, type Endpoint, type ServiceApp } from '@pep/service-kit';

/**
 * v1 endpoints messaging owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway see
 * an honest "not built" instead of a stand-in answer.
 */
export const NOT_BUILT: ReadonlyArray<Endpoint> = [
  ['POST', '/api/admin/shorten'],
  ['POST', '/api/callback/email/sendgrid'],
  ['GET', '/api/callback/plivo/sms/reminders'],
  ['POST', '/api/callback/slack'],
  ['POST', '/api/callback/status/:vendor'],
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
  ['GET', '/api/messages-errors'],
  ['GET', '/api/messages-errors/reports/xls'],
  ['GET', '/api/phoneNumbers/:phone'],
  ['GET', '/api/reminders/reports/xls'],
];

/** Registers every {@link NOT_BUILT} endpoint as 501. */
export function registerNotBuiltRoutes(app: ServiceApp): void {
  registerNotBuilt(app, 'messaging', NOT_BUILT);
}
