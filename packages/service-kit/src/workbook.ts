import { once } from 'node:events';
import { PassThrough, type Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The media type of an .xlsx workbook. */
export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const DATE_FORMAT = 'yyyy-mm-dd hh:mm';

/** One column of a workbook: its header, width, and the cell of a row (`date`: an instant shown as a date, in UTC). */
export interface WorkbookColumn<Row> {
  header: string;
  width: number;
  date?: true;
  cell: (row: Row) => unknown;
}

/**
 * Writes the rows to `out` as an .xlsx workbook of one sheet, row by row as the pages arrive: each row is committed
 * (written to the zip stream and dropped) at once, so memory holds about one page whatever the range. Before fetching
 * another page it waits while `out` is full, so a slow reader slows the queries instead of filling memory; it stops
 * reading once `out` is destroyed (the client went away).
 */
export async function writeWorkbook<Row>(
  out: Writable,
  sheetName: string,
  columns: ReadonlyArray<WorkbookColumn<Row>>,
  pages: AsyncIterable<Row[]>,
): Promise<void> {
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: true, useSharedStrings: false });
  const sheet = workbook.addWorksheet(sheetName, { views: [{ state: 'frozen', ySplit: 1 }] });
  sheet.columns = columns.map((column) => ({
    header: column.header,
    width: column.width,
    ...(column.date ? { style: { numFmt: DATE_FORMAT } } : {}),
  }));
  sheet.getRow(1).font = { bold: true };
  sheet.getRow(1).commit();
  for await (const page of pages) {
    if (out.destroyed) return;
    for (const row of page) sheet.addRow(columns.map((column) => column.cell(row))).commit();
    if (out.writableNeedDrain) await Promise.race([once(out, 'drain'), once(out, 'close')]);
  }
  sheet.commit();
  await workbook.commit();
}

/** A workbook answer: its file name, sheet, columns and the pages of rows. */
export interface WorkbookAnswer<Row> {
  filename: string;
  sheet: string;
  columns: ReadonlyArray<WorkbookColumn<Row>>;
  pages: AsyncIterable<Row[]>;
  /** Runs before each page is written, and before the answer starts for the first (the patient-access audit). */
  beforePage?: (rows: Row[]) => Promise<void>;
}

/**
 * Answers an .xlsx attachment streamed while its pages are read. The first page is read (and passed to `beforePage`)
 * before the answer starts, so a failing query or a 404 still answers a problem instead of a cut file; a later failure
 * can only cut the stream, and is logged.
 */
export async function sendWorkbook<Row>(request: FastifyRequest, reply: FastifyReply, answer: WorkbookAnswer<Row>): Promise<FastifyReply> {
  const pages = answer.pages[Symbol.asyncIterator]();
  const first = await pages.next();
  if (!first.done) await answer.beforePage?.(first.value);
  const out = new PassThrough();
  const all = async function* () {
    try {
      for (let page = first; !page.done; page = await pages.next()) {
        if (page !== first) await answer.beforePage?.(page.value);
        yield page.value;
      }
    } finally {
      await pages.return?.(undefined);
    }
  };
  writeWorkbook(out, answer.sheet, answer.columns, all()).catch((error: unknown) => {
    request.log.error({ err: error, workbook: answer.sheet }, 'workbook failed; the download is cut');
    out.destroy(error instanceof Error ? error : new Error('workbook failed'));
  });
  return reply.type(XLSX_TYPE).header('content-disposition', `attachment; filename="${answer.filename}"`).send(out);
}
