import { HttpProblem, type ServiceApp } from '@pep/service-kit';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * v1 endpoints patients owns but does not serve yet. Each answers 501 problem+json, so clients and the gateway
 * see an honest "not built" instead of a stand-in answer. `POST /api/patients/login` is not here: the gateway
 * sends it to auth.
 */
export const NOT_BUILT: ReadonlyArray<readonly [Method, string]> = [
  ['GET', '/api/patients/:id/provider'],
  ['POST', '/api/patients/:id/reload'],
  ['GET', '/api/patients/reports'],
  ['GET', '/api/patients/reports/do-not-contact/xls'],
  ['POST', '/api/patients/upload/:integrator'],
  ['GET', '/api/referrals'],
  ['POST', '/api/referrals'],
  ['DELETE', '/api/referrals/:id'],
  ['GET', '/api/referrals/:id'],
  ['PUT', '/api/referrals/:id'],
  ['POST', '/api/referrals/:id/approve'],
  ['POST', '/api/referrals/:id/reject'],
  ['DELETE', '/api/referrals/batch'],
  ['PUT', '/api/referrals/batch'],
  ['GET', '/api/referrals/count'],
  ['GET', '/api/referrals/crudList'],
  ['GET', '/api/referrals/reports/find'],
  ['GET', '/api/referrals/reports/summary'],
  ['GET', '/api/referrals/reports/xls'],
  ['GET', '/api/referrals/search'],
  ['GET', '/api/insurances'],
  ['POST', '/api/insurances'],
  ['DELETE', '/api/insurances/:id'],
  ['GET', '/api/insurances/:id'],
  ['PUT', '/api/insurances/:id'],
  ['POST', '/api/insurances/:id/binary'],
  ['GET', '/api/insurances/:id/coverage'],
  ['POST', '/api/insurances/binary'],
  ['GET', '/api/insurances/payers'],
  ['GET', '/api/insurances/payers/:id'],
  ['GET', '/api/patientForms'],
  ['POST', '/api/patientForms/*'],
  ['GET', '/api/patientForms/:id'],
  ['GET', '/api/patientForms/:id/pdf'],
  ['POST', '/api/patientForms/callback/completed'],
  ['POST', '/api/patientForms/callback/created'],
  ['GET', '/api/patientFormTemplates'],
  ['POST', '/api/patientFormTemplates'],
  ['DELETE', '/api/patientFormTemplates/:id'],
  ['GET', '/api/patientFormTemplates/:id'],
  ['PUT', '/api/patientFormTemplates/:id'],
  ['POST', '/api/patientFormTemplates/callback/updated'],
  ['POST', '/api/fileUploads'],
  ['DELETE', '/api/fileUploads/:id'],
  ['GET', '/api/fileUploads/:id'],
  ['PUT', '/api/fileUploads/:id'],
  ['DELETE', '/api/fileUploads/:id/binary'],
  ['GET', '/api/fileUploads/:id/binary'],
  ['PUT', '/api/fileUploads/:id/binary'],
  ['GET', '/api/fileUploads/:id/file'],
  ['GET', '/api/fileUploads/:id/thumbnail'],
  ['POST', '/api/fileUploads/binary'],
  ['GET', '/api/fileMappings'],
  ['GET', '/api/uploads'],
  ['POST', '/api/uploads'],
  ['GET', '/api/uploads/:id'],
  ['PUT', '/api/uploads/:id/mapping'],
  ['GET', '/api/diagnoses'],
  ['GET', '/api/procedures'],
  ['POST', '/api/hl7messages'],
  ['GET', '/api/integrators'],
  ['POST', '/api/integrators'],
  ['DELETE', '/api/integrators/:id'],
  ['GET', '/api/integrators/:id'],
  ['PUT', '/api/integrators/:id'],
  ['GET', '/api/integrators/admin'],
  ['GET', '/api/integrators/configuration'],
  ['GET', '/api/integrators/configuration/:integrator'],
  ['POST', '/api/callback/integrators/:integrator/auth/:userId/:secret/:integratorId?'],
  ['POST', '/api/callback/mi7/ack/:apikey/:systemid/:messageid'],
  ['POST', '/api/callback/mi7/from/:apikey/:systemid'],
  ['GET', '/api/callback/mi7/to/:apikey/:systemid'],
  ['POST', '/api/callback/practicefusion/auth/:userId/:secret'],
  ['GET', '/api/callback/practicefusion/textcode'],
  ['POST', '/api/admin/dedupe/facility'],
  ['POST', '/api/admin/dedupe/patient'],
  ['POST', '/api/admin/dedupe/provider'],
  ['POST', '/api/admin/reload-patients'],
];

const COLLECTIONS = new Set([
  '/api/referrals',
  '/api/insurances',
  '/api/patientForms',
  '/api/patientFormTemplates',
  '/api/fileUploads',
  '/api/fileMappings',
  '/api/uploads',
  '/api/diagnoses',
  '/api/procedures',
  '/api/hl7messages',
  '/api/integrators',
]);

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
          tags: [groupOf(url)],
          summary: 'Not built yet',
          description: 'Part of the v1 API owned by the patients service; answers 501 until it is built.',
        },
        handler: async () => {
          throw new HttpProblem(501, 'not-implemented', `${method} ${url} is not built yet.`);
        },
      }),
    );
  }
}

function groupOf(url: string): string {
  const [, , first = 'patients', second = ''] = url.split('/');
  return first === 'callback' || first === 'admin' ? `${first}/${second}` : first;
}
