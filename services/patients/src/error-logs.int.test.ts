import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { migrate, openDatabase, TRANSACTION_OPTIONS, type Database } from '@pep/db';
import { createLogger } from '@pep/service-kit';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from './generated/prisma/client.js';
import { migrationsDir } from './migrations.js';
import { createPatientBody } from './patient.schemas.js';

// Real failures of the real driver stack on real Postgres quote the data they failed on, in their messages, in
// Postgres's DETAIL and in Prisma's rendering of the call. Logged the ways services log errors, none of it may show.
describe('patients: database and validation errors are logged without the data they quote', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let prisma: PrismaClient;
  const organization = randomUUID();
  const PATIENT = {
    firstname: 'Philippa',
    lastname: 'Wrenwhistle',
    phone: '+14155550199',
    email: 'philippa.wrenwhistle@example.test',
    dateOfBirth: '1958-11-02',
  };

  beforeAll(async () => {
    testDatabase = await createTestDatabase('error-logs');
    database = await openDatabase({ kind: 'postgres', url: testDatabase.url });
    await migrate(database, { migrationsDir });
    prisma = new PrismaClient({ adapter: database.adapter, transactionOptions: TRANSACTION_OPTIONS });
    // A unique index of the kind a service adds for contact details, so Postgres reports the duplicate value in DETAIL.
    await prisma.$executeRawUnsafe('CREATE UNIQUE INDEX patient_phone_for_test ON patient (organization, phone)');
    await prisma.patient.create({ data: { id: randomUUID(), organization, ...PATIENT } });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await database?.close();
    await testDatabase?.drop();
  });

  /** Runs one statement on a raw session of the database. */
  const onSession = async (text: string, params: unknown[]) => {
    const session = await database.sql.connect();
    try {
      return await session.query(text, params);
    } finally {
      await session.release();
    }
  };

  /** The error a call rejects with; fails the test when it does not reject. */
  const failure = async (call: () => Promise<unknown>): Promise<Error> => {
    try {
      await call();
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected the call to fail');
  };

  it('keeps quoted values, DETAIL keys and Prisma arguments out of every way an error is logged', async () => {
    const errors: Record<string, Error> = {
      // Postgres: duplicate key, with DETAIL "Key (organization, phone)=(…, +1…) already exists."
      duplicate: await failure(() => prisma.patient.create({ data: { id: randomUUID(), organization, ...PATIENT } })),
      rawDuplicate: await failure(() =>
        prisma.$executeRawUnsafe(
          'INSERT INTO patient (id, organization, firstname, lastname, phone, updated_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5, now())',
          randomUUID(),
          organization,
          PATIENT.firstname,
          PATIENT.lastname,
          PATIENT.phone,
        ),
      ),
      // Postgres: invalid input syntax for type uuid: "…"
      badUuid: await failure(() => prisma.$queryRawUnsafe('SELECT $1::uuid AS id', `${PATIENT.firstname} ${PATIENT.email}`)),
      // Postgres: not-null violation, with DETAIL "Failing row contains (…)".
      nullColumn: await failure(() =>
        prisma.$executeRawUnsafe(
          'INSERT INTO patient (id, organization, firstname, lastname, email, date_of_birth) VALUES ($1::uuid, $2::uuid, $3, NULL, $4, $5)',
          randomUUID(),
          organization,
          PATIENT.firstname,
          PATIENT.email,
          PATIENT.dateOfBirth,
        ),
      ),
      // Prisma: an invalid call, rendered with its arguments.
      invalidCall: await failure(() =>
        prisma.patient.create({
          data: { id: randomUUID(), organization, ...PATIENT, gender: PATIENT.lastname } as unknown as Parameters<
            typeof prisma.patient.create
          >[0]['data'],
        }),
      ),
      // pg itself, on the raw sessions the migrator and locks use: DETAIL in its own field.
      sessionDuplicate: await failure(() =>
        onSession(
          'INSERT INTO patient (id, organization, firstname, lastname, phone, updated_at) VALUES ($1::uuid, $2::uuid, $3, $4, $5, now())',
          [randomUUID(), organization, PATIENT.firstname, PATIENT.lastname, PATIENT.phone],
        ),
      ),
      sessionNullColumn: await failure(() =>
        onSession(
          'INSERT INTO patient (id, organization, firstname, lastname, email, date_of_birth) VALUES ($1::uuid, $2::uuid, $3, NULL, $4, $5)',
          [randomUUID(), organization, PATIENT.firstname, PATIENT.email, PATIENT.dateOfBirth],
        ),
      ),
      // zod: a body refused at the edge.
      zod: await failure(async () =>
        createPatientBody.parse({ ...PATIENT, phone: `call ${PATIENT.firstname}`, gender: PATIENT.lastname, dateOfBirth: '11/02/1958' }),
      ),
    };
    // The data is really in what the driver stack reports, or the test proves nothing.
    const raw = JSON.stringify(Object.values(errors).map((error) => ({ ...error, message: error.message })));
    for (const value of [PATIENT.phone, PATIENT.firstname, PATIENT.email, PATIENT.dateOfBirth, PATIENT.lastname])
      expect(raw).toContain(value);

    const lines: string[] = [];
    const logger = createLogger({
      service: 'patients',
      level: 'trace',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    for (const [kind, error] of Object.entries(errors)) {
      logger.error({ err: error, kind }, 'request failed');
      logger.error(error);
      logger.error({ err: error, kind });
      logger.warn({ err: { message: error.message, name: error.name }, kind }, 'outbox relay could not publish; will retry');
      logger.warn({ error, reason: error.message, kind }, 'handler failed');
      logger.child({ component: 'consumer' }).info({ cause: error }, 'event failed: %s', error.message);
    }

    const logged = lines.join('');
    expect(lines).toHaveLength(Object.keys(errors).length * 6);
    for (const value of [PATIENT.phone, PATIENT.phone.slice(2), PATIENT.firstname, PATIENT.lastname, PATIENT.email, PATIENT.dateOfBirth]) {
      expect(logged.includes(value), `${value} in ${lines.find((line) => line.includes(value))?.slice(0, 2_000)}`).toBe(false);
    }
    // What stays is enough to act on: the kind of failure and where.
    expect(logged).toContain('P2002');
    expect(logged).toContain('invalid input syntax for type uuid');
    expect(logged).toContain('Key (organization, phone)=([redacted]) already exists.');
    expect(logged).toContain('null value in column \\"lastname\\" of relation \\"patient\\" violates not-null constraint');
  });
});
