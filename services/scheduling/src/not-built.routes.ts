import { HttpProblem, type ServiceApp } from '@pep/service-kit';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * v1 endpoints scheduling owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway
 * see an honest "not built" instead of a stand-in answer. `POST /api/providers/login` is auth's, not listed here.
 */
export const NOT_BUILT: ReadonlyArray<readonly [Method, string]> = [
  ['GET', '/api/appointments/reports/find'],
  ['GET', '/api/appointments/reports/summary'],
  ['GET', '/api/appointments/reports/xls'],
  ['POST', '/api/appointments/upload/dentrix'],
  ['POST', '/api/appointments/upload/referral'],
  ['POST', '/api/appointments/upload/successehs'],
  ['POST', '/api/appointments/upload/theraoffice'],
  ['GET', '/api/availabilities'],
  ['POST', '/api/availabilities'],
  ['PUT', '/api/availabilities'],
  ['GET', '/api/availabilities/:id'],
  ['PUT', '/api/availabilities/:id/book'],
  ['POST', '/api/availabilities/book/:id'],
  ['GET', '/api/availabilities/freebusy'],
  ['GET', '/api/providers/:id/availabilities'],
  ['GET', '/api/providers/npi/search'],
  ['GET', '/api/providers/referring'],
  ['PUT', '/api/providers/referring/:id/activate'],
  ['PUT', '/api/providers/referring/:id/deactivate'],
  ['GET', '/api/providers/referring/:id/referrals'],
  ['POST', '/api/providers/referring/:id/share'],
  ['GET', '/api/recalls'],
  ['GET', '/api/scheduler/availabilities'],
  ['GET', '/api/scheduler/availabilities/count'],
];

const COLLECTIONS = new Set(['/api/availabilities', '/api/recalls']);

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
          tags: [url.split('/')[2] ?? 'scheduling'],
          summary: 'Not built yet',
          description: 'Part of the v1 API owned by the scheduling service; answers 501 until it is built.',
        },
        handler: async () => {
          throw new HttpProblem(501, 'not-implemented', `${method} ${url} is not built yet.`);
        },
      }),
    );
  }
}
