import type { WorkbookColumn } from '@pep/service-kit';
import type { FeedbackResponse } from './generated/prisma/client.js';

/** The workbook's columns: header, width, and the cell of a survey (instants as dates, in UTC). Ids, never names. */
export const FEEDBACK_WORKBOOK_COLUMNS: ReadonlyArray<WorkbookColumn<FeedbackResponse>> = [
  { header: 'Survey', width: 38, cell: (row) => row.id },
  { header: 'Patient id', width: 38, cell: (row) => row.patient },
  { header: 'Appointment id', width: 38, cell: (row) => row.appointment },
  { header: 'Facility id', width: 38, cell: (row) => row.facility },
  { header: 'Provider id', width: 38, cell: (row) => row.provider },
  { header: 'Sent (UTC)', width: 18, date: true, cell: (row) => row.sentAt },
  { header: 'Score', width: 8, cell: (row) => row.score },
  { header: 'Category', width: 12, cell: (row) => row.category },
  { header: 'Answered (UTC)', width: 18, date: true, cell: (row) => row.answeredAt },
  { header: 'Channel', width: 9, cell: (row) => row.channel },
  { header: 'Positive comment', width: 40, cell: (row) => row.positiveComment },
  { header: 'Negative comment', width: 40, cell: (row) => row.negativeComment },
  { header: 'Follow-up required', width: 10, cell: (row) => (row.followUpRequired ? 'yes' : 'no') },
  { header: 'Review link opened (UTC)', width: 18, date: true, cell: (row) => row.reviewClickedAt },
];

/** The header row of the workbook, in column order. */
export const FEEDBACK_WORKBOOK_HEADERS = FEEDBACK_WORKBOOK_COLUMNS.map((column) => column.header);
