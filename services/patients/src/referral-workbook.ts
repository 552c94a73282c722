import type { WorkbookColumn } from '@pep/service-kit';
import type { ReferralReportRow } from './referral-report.schemas.js';

const at = (value: string | null) => (value === null ? null : new Date(value));

/** The workbook's columns: header, width, and the cell of a row (instants as dates, in UTC). */
export const REFERRAL_WORKBOOK_COLUMNS: ReadonlyArray<WorkbookColumn<ReferralReportRow>> = [
  { header: 'Referral', width: 38, cell: (row) => row._id },
  { header: 'Received (UTC)', width: 18, date: true, cell: (row) => at(row.createdAt) },
  { header: 'Patient', width: 28, cell: (row) => row.patientName },
  { header: 'Patient id', width: 38, cell: (row) => row.patient },
  { header: 'Status', width: 15, cell: (row) => row.status },
  { header: 'Status reason', width: 18, cell: (row) => row.statusReason },
  { header: 'Source', width: 22, cell: (row) => row.source },
  { header: 'Referring provider', width: 28, cell: (row) => row.referringProvider },
  { header: 'Referring provider id', width: 38, cell: (row) => row.referringProviderId },
  { header: 'Referred for', width: 28, cell: (row) => row.name },
  { header: 'Reason', width: 28, cell: (row) => row.reason },
  { header: 'Facility id', width: 38, cell: (row) => row.facility },
  { header: 'Provider id', width: 38, cell: (row) => row.provider },
  { header: 'Appointment type id', width: 38, cell: (row) => row.appointmentType },
  { header: 'Start on (UTC)', width: 18, date: true, cell: (row) => at(row.startOn) },
  { header: 'Expires (UTC)', width: 18, date: true, cell: (row) => at(row.expireAt) },
  { header: 'Attempts', width: 10, cell: (row) => row.attempt },
  { header: 'Last attempt (UTC)', width: 18, date: true, cell: (row) => at(row.lastAttemptSentAt) },
  { header: 'Called (UTC)', width: 18, date: true, cell: (row) => at(row.calledAt) },
  { header: 'Scheduled (UTC)', width: 18, date: true, cell: (row) => at(row.scheduledAt) },
  { header: 'Scheduled by appointment', width: 38, cell: (row) => row.scheduledByAppointment },
  { header: 'External id', width: 20, cell: (row) => row.externalId },
];

/** The header row of the workbook, in column order. */
export const WORKBOOK_HEADERS = REFERRAL_WORKBOOK_COLUMNS.map((column) => column.header);
