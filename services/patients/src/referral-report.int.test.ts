import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createLogger, type ServiceApp } from '@pep/service-kit';
import { kafkaBrokers } from '@pep/testing';
import ExcelJS from 'exceljs';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { as, orgA, orgB, SECRET, startPatients, type PatientsUnderTest } from '../test/harness.js';
import { buildApp } from './app.js';
import { migrationsDir } from './migrations.js';
import { XLSX_TYPE } from '@pep/service-kit';
import { WORKBOOK_HEADERS } from './referral-workbook.js';

const HOUR_MS = 60 * 60 * 1000;
const MARCH = 'from=2027-03-01&to=2027-03-31';

/** One referral to seed: when it arrived, its state, and how many hours after arriving it was scheduled, if it was. */
interface Seed {
  at: string;
  status: string;
  source: string;
  /** Index of the organization's referring provider, or null for none. */
  provider: number | null;
  scheduledAfter?: number;
  facility?: boolean;
  deleted?: boolean;
}

describe('patients: referral reports', () => {
  let service: PatientsUnderTest;
  let db: pg.Client;
  const facility = randomUUID();
  const providers = ['Avery Stone', 'Blake Rivers', 'Casey Moon', 'Drew Park', 'Emery Lane'].map((name) => ({ id: randomUUID(), name }));
  const patients: Array<{ id: string; name: string }> = [];
  const ids: string[] = [];

  // Seventeen referrals of organization A in March 2027, in the order they arrived (the find report's order).
  const march: Seed[] = [
    { at: '2027-03-01T00:00:00Z', status: 'scheduled', source: 'ui', provider: 0, scheduledAfter: 10, facility: true },
    { at: '2027-03-02T09:00:00Z', status: 'scheduled', source: 'upload', provider: 0, scheduledAfter: 20 },
    { at: '2027-03-03T09:00:00Z', status: 'active', source: 'ui', provider: 0 },
    { at: '2027-03-04T09:00:00Z', status: 'pending', source: 'integrator', provider: 0 },
    // Scheduled once, then closed by staff: not among the referrals the time to schedule is measured on.
    { at: '2027-03-05T09:00:00Z', status: 'closed', source: 'ui', provider: 0, scheduledAfter: 1000 },
    { at: '2027-03-06T09:00:00Z', status: 'scheduled', source: 'patient-referral-form', provider: 1, scheduledAfter: 30, facility: true },
    { at: '2027-03-07T09:00:00Z', status: 'scheduled-late', source: 'ui', provider: 1, scheduledAfter: 60 },
    { at: '2027-03-08T09:00:00Z', status: 'expired', source: 'upload', provider: 1 },
    { at: '2027-03-09T09:00:00Z', status: 'cancelled', source: 'ui', provider: 1 },
    { at: '2027-03-10T09:00:00Z', status: 'scheduled', source: 'integrator', provider: 2, scheduledAfter: 40 },
    { at: '2027-03-11T09:00:00Z', status: 'called', source: 'ui', provider: 2 },
    { at: '2027-03-12T09:00:00Z', status: 'active', source: 'manual', provider: 2 },
    { at: '2027-03-13T09:00:00Z', status: 'scheduled-late', source: 'ui', provider: 3, scheduledAfter: 50 },
    { at: '2027-03-14T09:00:00Z', status: 'incomplete', source: 'followup', provider: 3 },
    { at: '2027-03-15T09:00:00Z', status: 'called-late', source: 'ui', provider: 4 },
    { at: '2027-03-16T09:00:00Z', status: 'active', source: 'ui', provider: null },
    // The last millisecond of the range's last day.
    { at: '2027-03-31T23:59:59.999Z', status: 'pending', source: 'ui', provider: null },
  ];
  // Organization A's referrals a March report never counts.
  const outside: Seed[] = [
    { at: '2027-02-28T23:59:59.999Z', status: 'scheduled', source: 'ui', provider: 0, scheduledAfter: 1 },
    { at: '2027-04-01T00:00:00Z', status: 'scheduled', source: 'ui', provider: 0, scheduledAfter: 1 },
    { at: '2027-03-20T09:00:00Z', status: 'scheduled', source: 'ui', provider: 0, scheduledAfter: 5, deleted: true },
  ];

  const insertReferral = async (organization: string, patient: string, provider: string | null, seed: Seed) => {
    const id = randomUUID();
    const created = new Date(seed.at);
    const scheduledAt = seed.scheduledAfter === undefined ? null : new Date(created.getTime() + seed.scheduledAfter * HOUR_MS);
    await db.query(
      `INSERT INTO referral (id, organization, patient, referring_provider, facility, status, source, start_on, scheduled_at,
         created_at, updated_at, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $8, $10)`,
      [
        id,
        organization,
        patient,
        provider,
        seed.facility ? facility : null,
        seed.status,
        seed.source,
        created,
        scheduledAt,
        seed.deleted ? created : null,
      ],
    );
    return id;
  };
  const summary = async (query: string, identity = orgA) => {
    const response = await call(service.app, identity, 'GET', `/api/referrals/reports/summary?${query}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  };
  const find = async (query: string, identity = orgA) => {
    const response = await call(service.app, identity, 'GET', `/api/referrals/reports/find?${query}`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body as { response: Array<Record<string, unknown>>; page: number; limit: number; total: number };
  };
  const workbook = async (query: string) => {
    const response = await service.app.inject({ method: 'GET', url: `/api/referrals/reports/xls?${query}`, headers: await as(orgA) });
    expect(response.statusCode, response.body).toBe(200);
    const book = new ExcelJS.Workbook();
    // exceljs types its input as an ArrayBuffer; the bytes are the same.
    await book.xlsx.load(new Uint8Array(response.rawPayload).buffer);
    return { response, sheet: book.getWorksheet('Referrals')! };
  };

  beforeAll(async () => {
    service = await startPatients('referral-reports', await kafkaBrokers());
    db = await connect(service);
    for (const [firstname, lastname] of [
      ['Ada', 'Quill'],
      ['Bo', 'Reyes'],
      ['Cy', 'Sato'],
    ]) {
      patients.push({ id: (await createPatient(service.app, orgA, { firstname, lastname }))._id, name: `${firstname} ${lastname}` });
    }
    for (const provider of providers) {
      await db.query(
        `INSERT INTO referring_provider (id, organization, name, normalized_name, updated_at) VALUES ($1, $2, $3, lower($3), now())`,
        [provider.id, orgA.organization, provider.name],
      );
    }
    for (const [index, seed] of march.entries()) {
      const patient = patients[index % patients.length]!;
      ids.push(await insertReferral(orgA.organization, patient.id, seed.provider === null ? null : providers[seed.provider]!.id, seed));
    }
    for (const seed of outside) await insertReferral(orgA.organization, patients[0]!.id, providers[0]!.id, seed);
    // Organization B: its own patient and referring provider, referrals in the same March.
    const patientB = (await createPatient(service.app, orgB, { firstname: 'Zed', lastname: 'Other' }))._id;
    const providerB = randomUUID();
    await db.query(
      `INSERT INTO referring_provider (id, organization, name, normalized_name, updated_at) VALUES ($1, $2, 'Other Clinic', 'other clinic', now())`,
      [providerB, orgB.organization],
    );
    for (const day of ['02', '03', '04']) {
      await insertReferral(orgB.organization, patientB, providerB, {
        at: `2027-03-${day}T12:00:00Z`,
        status: 'scheduled',
        source: 'integrator',
        provider: 0,
        scheduledAfter: 2,
      });
    }
  });
  afterAll(async () => {
    await db?.end();
    await service?.close();
  });

  it('sums the range by status, source and referring provider, with the median time to schedule', async () => {
    expect(await summary(`${MARCH}&top=3`)).toEqual({
      from: '2027-03-01T00:00:00.000Z',
      to: '2027-04-01T00:00:00.000Z',
      dateField: 'createdAt',
      total: 17,
      byStatus: {
        pending: 2,
        active: 3,
        called: 1,
        'called-late': 1,
        scheduled: 4,
        'scheduled-late': 2,
        incomplete: 1,
        expired: 1,
        cancelled: 1,
        closed: 1,
      },
      bySource: { upload: 2, 'patient-referral-form': 1, ui: 10, integrator: 2, followup: 1, manual: 1 },
      byReferringProvider: [
        { _id: providers[0]!.id, name: 'Avery Stone', count: 5 },
        { _id: providers[1]!.id, name: 'Blake Rivers', count: 4 },
        { _id: providers[2]!.id, name: 'Casey Moon', count: 3 },
      ],
      otherReferringProviders: { providers: 2, count: 3 },
      withoutReferringProvider: 2,
      // 10, 20, 30, 40, 50 and 60 hours: the median lies between 30 and 40.
      timeToSchedule: { scheduled: 6, medianHours: 35 },
    });
  });

  it('narrows the summary by status, source, provider and facility, and by the date the range applies to', async () => {
    const onTime = await summary(`${MARCH}&status=scheduled,scheduled-late&source=ui`);
    expect(onTime.total).toBe(3);
    expect(onTime.byStatus).toMatchObject({ scheduled: 1, 'scheduled-late': 2, active: 0 });
    expect(onTime.timeToSchedule).toEqual({ scheduled: 3, medianHours: 50 });

    const fromBlake = await summary(`${MARCH}&referringProvider=${providers[1]!.id}`);
    expect(fromBlake.total).toBe(4);
    expect(fromBlake.byReferringProvider).toEqual([{ _id: providers[1]!.id, name: 'Blake Rivers', count: 4 }]);
    expect(fromBlake.otherReferringProviders).toEqual({ providers: 0, count: 0 });
    expect(fromBlake.timeToSchedule).toEqual({ scheduled: 2, medianHours: 45 });

    expect((await summary(`${MARCH}&facility=${facility}`)).total).toBe(2);

    // By the day they were scheduled: six received in March, and the one received on 28 February and scheduled an hour
    // later; not the closed one, scheduled in April.
    const scheduledInMarch = await summary(`${MARCH}&dateField=scheduledAt`);
    expect(scheduledInMarch.total).toBe(7);
    expect(scheduledInMarch.byStatus).toMatchObject({ scheduled: 5, 'scheduled-late': 2, closed: 0 });

    const none = await summary('from=2030-01-01&to=2030-01-31');
    expect(none).toMatchObject({ total: 0, byReferringProvider: [], withoutReferringProvider: 0 });
    expect(none.timeToSchedule).toEqual({ scheduled: 0, medianHours: null });
    expect(none.byStatus.active).toBe(0);
  });

  it('counts only the caller organization’s referrals', async () => {
    const other = await summary(MARCH, orgB);
    expect(other.total).toBe(3);
    expect(other.byReferringProvider).toEqual([{ _id: expect.any(String), name: 'Other Clinic', count: 3 }]);
    expect(other.timeToSchedule).toEqual({ scheduled: 3, medianHours: 2 });
    const found = await find(MARCH, orgB);
    expect(found.total).toBe(3);
    expect(found.response.every((row) => row['organization'] === orgB.organization)).toBe(true);
    // Organization A's referring provider as a filter of B's report finds nothing of A's.
    expect((await summary(`${MARCH}&referringProvider=${providers[0]!.id}`, orgB)).total).toBe(0);
  });

  it('lists the range page by page in order of arrival, with the patient and referring provider names', async () => {
    const seen: string[] = [];
    for (let page = 1; page <= 4; page++) {
      const body = await find(`${MARCH}&limit=5&page=${page}`);
      expect(body).toMatchObject({ page, limit: 5, total: 17 });
      expect(body.response).toHaveLength(page < 4 ? 5 : 2);
      seen.push(...body.response.map((row) => row['_id'] as string));
    }
    expect(seen).toEqual(ids);

    const [first] = (await find(`${MARCH}&limit=1`)).response;
    expect(first).toMatchObject({
      _id: ids[0],
      patient: patients[0]!.id,
      patientName: 'Ada Quill',
      referringProviderId: providers[0]!.id,
      referringProvider: 'Avery Stone',
      status: 'scheduled',
      source: 'ui',
      facility,
      createdAt: '2027-03-01T00:00:00.000Z',
      scheduledAt: '2027-03-01T10:00:00.000Z',
      deleted: 0,
    });
    const last = (await find(`${MARCH}&page=17&limit=1`)).response[0]!;
    expect(last).toMatchObject({ _id: ids[16], referringProviderId: null, referringProvider: null, patientName: 'Bo Reyes' });
  });

  it('filters the list like the summary', async () => {
    const fromBlake = await find(`${MARCH}&referringProvider=${providers[1]!.id}`);
    expect(fromBlake.response.map((row) => row['_id'])).toEqual(ids.slice(5, 9));
    const uploads = await find(`${MARCH}&status=scheduled&source=upload`);
    expect(uploads.response.map((row) => row['_id'])).toEqual([ids[1]]);
    const twoStatuses = await find(`${MARCH}&status=called&status=called-late`);
    expect(twoStatuses.response.map((row) => row['_id'])).toEqual([ids[10], ids[14]]);
    const scheduled = await find(`${MARCH}&dateField=scheduledAt&limit=100`);
    expect(scheduled.total).toBe(7);
    // Ordered by the date the range applies to, not by arrival.
    expect(scheduled.response.map((row) => row['scheduledAt'])).toEqual(
      [...scheduled.response.map((row) => row['scheduledAt'] as string)].sort(),
    );
  });

  it('refuses a reversed or missing range and unknown values, naming the field', async () => {
    const reversed = await call(service.app, orgA, 'GET', '/api/referrals/reports/summary?from=2027-03-31&to=2027-03-01');
    expect(reversed.status).toBe(400);
    expect(reversed.headers['content-type']).toContain('application/problem+json');
    expect(reversed.body.errors.map((error: { field: string }) => error.field)).toEqual(['querystring.to']);

    const missing = await call(service.app, orgA, 'GET', '/api/referrals/reports/find?to=2027-03-01');
    expect(missing.status).toBe(400);
    expect(missing.body.errors.map((error: { field: string }) => error.field)).toEqual(['querystring.from']);

    const status = await call(service.app, orgA, 'GET', `/api/referrals/reports/find?${MARCH}&status=active,booked`);
    expect(status.status).toBe(400);
    expect(status.body.errors.map((error: { field: string }) => error.field)).toEqual(['querystring.status.1']);

    const xls = await service.app.inject({
      method: 'GET',
      url: '/api/referrals/reports/xls?from=2027-03-02T00:00:00Z&to=2027-03-02T00:00:00Z',
      headers: await as(orgA),
    });
    expect(xls.statusCode).toBe(400);
    expect(xls.json().errors.map((error: { field: string }) => error.field)).toEqual(['querystring.to']);
  });

  it('exports the find report as an .xlsx workbook', async () => {
    const { response, sheet } = await workbook(MARCH);
    expect(response.headers['content-type']).toBe(XLSX_TYPE);
    expect(response.headers['content-disposition']).toBe('attachment; filename="referrals-2027-03-01-2027-04-01.xlsx"');
    expect(sheet.rowCount).toBe(18);
    expect((sheet.getRow(1).values as unknown[]).slice(1)).toEqual(WORKBOOK_HEADERS);
    const column = (header: string) => WORKBOOK_HEADERS.indexOf(header) + 1;
    const first = sheet.getRow(2);
    expect(first.getCell(column('Referral')).value).toBe(ids[0]);
    expect(first.getCell(column('Received (UTC)')).value).toEqual(new Date('2027-03-01T00:00:00Z'));
    expect(first.getCell(column('Patient')).value).toBe('Ada Quill');
    expect(first.getCell(column('Status')).value).toBe('scheduled');
    expect(first.getCell(column('Referring provider')).value).toBe('Avery Stone');
    expect(first.getCell(column('Scheduled (UTC)')).value).toEqual(new Date('2027-03-01T10:00:00Z'));
    expect(first.getCell(column('Facility id')).value).toBe(facility);
    const last = sheet.getRow(18);
    expect(last.getCell(column('Referral')).value).toBe(ids[16]);
    expect(last.getCell(column('Referring provider')).value).toBeNull();
    const exported = Array.from({ length: 17 }, (_, index) => sheet.getRow(index + 2).getCell(column('Referral')).value);
    expect(exported).toEqual(ids);
  });

  it('exports a range larger than one page exactly once each, even when many arrived at the same instant', async () => {
    // 2,345 referrals at one instant: the export's pages can only resume by id.
    await db.query(
      `INSERT INTO referral (id, organization, patient, status, source, start_on, created_at, updated_at)
       SELECT gen_random_uuid(), $1, $2, 'active', 'upload', $3, $3, $3 FROM generate_series(1, 2345)`,
      [orgA.organization, patients[2]!.id, new Date('2027-06-15T08:00:00Z')],
    );
    const { sheet } = await workbook('from=2027-06-01&to=2027-06-30&status=active');
    expect(sheet.rowCount).toBe(2346);
    const column = WORKBOOK_HEADERS.indexOf('Referral') + 1;
    const exported = new Set(Array.from({ length: 2345 }, (_, index) => sheet.getRow(index + 2).getCell(column).value));
    expect(exported.size).toBe(2345);
    const patient = WORKBOOK_HEADERS.indexOf('Patient') + 1;
    expect(sheet.getRow(2346).getCell(patient).value).toBe('Cy Sato');
  });
});

// The embedded runtime runs the same SQL on PGlite: grouping sets, percentile_cont and the JSON aggregates included.
describe('patients: referral reports on PGlite (embedded runtime)', () => {
  let database: Database;
  let bus: InProcessBus;
  let app: ServiceApp;
  const logged: string[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString());
      done();
    },
  });

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: null });
    await migrate(database, { migrationsDir });
    bus = new InProcessBus();
    const logger = createLogger({ service: 'patients', level: 'info', destination: logs });
    app = await buildApp({ logger, database, bus, internalAuthSecret: SECRET });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await database?.close();
  });

  it('sums, lists and exports, auditing each read of patient data and logging no names', async () => {
    const patient = (await createPatient(app, orgA, { firstname: 'Ida', lastname: 'Vance' }))._id;
    const provider = randomUUID();
    const session = await database.sql.connect();
    try {
      await session.query(
        `INSERT INTO referring_provider (id, organization, name, normalized_name, updated_at) VALUES ($1, $2, 'Fern Hill', 'fern hill', now())`,
        [provider, orgA.organization],
      );
      for (const [day, status, hours] of [
        ['01', 'scheduled', 6],
        ['02', 'scheduled-late', 12],
        ['03', 'active', null],
      ] as const) {
        const created = new Date(`2027-03-${day}T08:00:00Z`);
        await session.query(
          `INSERT INTO referral (id, organization, patient, referring_provider, status, source, start_on, scheduled_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, 'upload', $6, $7, $6, $6)`,
          [
            randomUUID(),
            orgA.organization,
            patient,
            provider,
            status,
            created,
            hours === null ? null : new Date(created.getTime() + hours * HOUR_MS),
          ],
        );
      }
    } finally {
      await session.release();
    }
    const summary = await call(app, orgA, 'GET', `/api/referrals/reports/summary?${MARCH}`);
    expect(summary.status).toBe(200);
    expect(summary.body).toMatchObject({
      total: 3,
      bySource: { upload: 3, ui: 0 },
      byStatus: { scheduled: 1, 'scheduled-late': 1, active: 1 },
      byReferringProvider: [{ _id: provider, name: 'Fern Hill', count: 3 }],
      otherReferringProviders: { providers: 0, count: 0 },
      timeToSchedule: { scheduled: 2, medianHours: 9 },
    });
    const found = await call(app, orgA, 'GET', `/api/referrals/reports/find?${MARCH}&status=active`);
    expect(found.body).toMatchObject({ total: 1, response: [{ patientName: 'Ida Vance', referringProvider: 'Fern Hill' }] });
    const xls = await app.inject({ method: 'GET', url: `/api/referrals/reports/xls?${MARCH}`, headers: await as(orgA) });
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(new Uint8Array(xls.rawPayload).buffer);
    expect(book.getWorksheet('Referrals')!.rowCount).toBe(4);

    // Each read of the patient's data is audited, by route, caller and patient id; the logs never hold the names.
    const reader = await database.sql.connect();
    const audited = await reader
      .query(`SELECT route, actor, patients FROM patient_access WHERE organization = $1 AND route LIKE '%reports%' ORDER BY at`, [
        orgA.organization,
      ])
      .finally(() => reader.release());
    expect(audited.rows).toEqual([
      { route: 'GET /api/referrals/reports/find', actor: orgA.user, patients: [patient] },
      { route: 'GET /api/referrals/reports/xls', actor: orgA.user, patients: [patient] },
    ]);
    expect(logged.join('\n')).not.toMatch(/Ida|Vance/);
  });

  it('documents the reports with their query parameters', async () => {
    const document = (await app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<string, { get?: { parameters?: Array<{ name: string; required?: boolean }> } }>;
    };
    for (const report of ['find', 'summary', 'xls']) {
      const parameters = document.paths[`/api/referrals/reports/${report}`]?.get?.parameters ?? [];
      expect(parameters.filter((parameter) => parameter.required).map((parameter) => parameter.name)).toEqual(['from', 'to']);
      expect(parameters.map((parameter) => parameter.name)).toEqual(expect.arrayContaining(['dateField', 'status', 'referringProvider']));
    }
  });
});
