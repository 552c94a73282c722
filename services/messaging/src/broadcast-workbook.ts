import type { WorkbookColumn } from '@pep/service-kit';
import type { RecipientRow } from './broadcast.service.js';

/** The workbook's columns: header, width, and the cell of a recipient (instants as dates, in UTC). */
export const BROADCAST_WORKBOOK_COLUMNS: ReadonlyArray<WorkbookColumn<RecipientRow>> = [
  { header: 'Patient id', width: 38, cell: (row) => row.patient },
  { header: 'First name', width: 18, cell: (row) => row.firstname },
  { header: 'Last name', width: 18, cell: (row) => row.lastname },
  { header: 'Channel', width: 9, cell: (row) => row.channel },
  { header: 'To', width: 24, cell: (row) => row.to },
  { header: 'Status', width: 11, cell: (row) => row.status },
  { header: 'Reason', width: 22, cell: (row) => row.statusReason },
  { header: 'Sent (UTC)', width: 18, date: true, cell: (row) => row.sentAt },
  { header: 'Message status', width: 15, cell: (row) => row.messageStatus },
  { header: 'Replied', width: 9, cell: (row) => (row.replied ? 'yes' : 'no') },
];

/** The header row of the workbook, in column order. */
export const BROADCAST_WORKBOOK_HEADERS = BROADCAST_WORKBOOK_COLUMNS.map((column) => column.header);
