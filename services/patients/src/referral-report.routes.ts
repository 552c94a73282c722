import { auditRows, callerOf, patientsInAnswer, sendWorkbook, XLSX_TYPE, type PatientAccessLog, type ServiceApp } from '@pep/service-kit';
import {
  findReportQuery,
  findReportResponse,
  reportFilters,
  summaryReportQuery,
  summaryReportResponse,
} from './referral-report.schemas.js';
import type { ReferralReportService } from './referral-report.service.js';
import { REFERRAL_WORKBOOK_COLUMNS } from './referral-workbook.js';
import { STAFF } from './roles.js';

const TAGS = ['referrals'];
const FILTERS =
  'The range (`from`, `to`) applies to `dateField`: createdAt (default), startOn or scheduledAt. status and source take ' +
  'several values; referringProvider, facility, provider and appointmentType one id. Deleted referrals are never included.';

/** The referral reports: a paged list, a summary computed by the database, and a streamed .xlsx export. */
export function registerReferralReportRoutes(app: ServiceApp, reports: ReferralReportService, patientAccess: PatientAccessLog): void {
  app.get(
    '/api/referrals/reports/find',
    {
      config: { roles: STAFF, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags: TAGS,
        summary: 'Referrals in a date range, with patient and referring provider names',
        description: `${FILTERS} Oldest first (by the range's date, then id), paged with page/limit.`,
        querystring: findReportQuery,
        response: { 200: findReportResponse },
      },
    },
    async (request) => reports.find(callerOf(request), request.query),
  );

  app.get(
    '/api/referrals/reports/summary',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Referral counts and time to schedule over a date range',
        description:
          `${FILTERS} Answers the total, the count per status and per source (every one present), the \`top\` referring ` +
          'providers by count with the rest summed, and the median hours from receipt to scheduling over the referrals that are ' +
          'scheduled or scheduled-late.',
        querystring: summaryReportQuery,
        response: { 200: summaryReportResponse },
      },
    },
    async (request) => reports.summary(callerOf(request), request.query),
  );

  app.get(
    '/api/referrals/reports/xls',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'The find report as an Excel workbook (.xlsx)',
        description:
          `${FILTERS} Every matching referral (no paging), oldest first, one row each with the patient's and referring ` +
          `provider's names; instants in UTC. Answers ${XLSX_TYPE} as an attachment, streamed while the rows are read, so ` +
          'large ranges start at once and use little memory.',
        querystring: reportFilters,
      },
    },
    async (request, reply) => {
      const filters = request.query;
      return sendWorkbook(request, reply, {
        filename: `referrals-${filters.from.toISOString().slice(0, 10)}-${filters.to.toISOString().slice(0, 10)}.xlsx`,
        sheet: 'Referrals',
        columns: REFERRAL_WORKBOOK_COLUMNS,
        pages: reports.all(callerOf(request), filters),
        // Streamed past the serializer's audit: each page's patients are audited before the page is written.
        beforePage: auditRows(request, patientAccess),
      });
    },
  );
}
