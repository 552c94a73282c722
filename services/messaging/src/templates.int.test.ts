import { randomUUID } from 'node:crypto';
import { migrate, openDatabase, TRANSACTION_OPTIONS, type Database } from '@pep/db';
import { createTestDatabase, type TestDatabase } from '@pep/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PrismaClient } from './generated/prisma/client.js';
import { migrationsDir } from './migrations.js';
import { contextFor, loadTextExtras, render, variablesOf } from './templates.js';

// The organization's name and booking links are loaded only for wordings that say them: the reminder hot path and
// most renders skip both queries. Prisma's own query events tell which tables a render read, on a real database.
describe('what texts need beyond the patient is loaded only when they mention it', () => {
  let created: TestDatabase;
  let database: Database;
  let prisma: PrismaClient<'query'>;
  const queries: string[] = [];
  const organization = randomUUID();
  const other = randomUUID();
  const patient = randomUUID();
  const facility = randomUUID();
  const appointment = randomUUID();
  const read = (table: string) => queries.some((query) => query.includes(`"${table}"`));

  beforeAll(async () => {
    created = await createTestDatabase('templates');
    database = await openDatabase({ kind: 'postgres', url: created.url });
    await migrate(database, { migrationsDir });
    prisma = new PrismaClient({
      adapter: database.adapter,
      transactionOptions: TRANSACTION_OPTIONS,
      log: [{ emit: 'event', level: 'query' }],
    });
    prisma.$on('query', (event) => queries.push(event.query));
    const changedAt = new Date();
    await prisma.patientContact.create({ data: { id: patient, organization, firstname: 'Ada', lastname: 'Lovelace' } });
    await prisma.facility.create({ data: { id: facility, organization, name: 'Main Street Clinic', timeZone: 'America/New_York' } });
    const provider = randomUUID();
    await prisma.provider.create({ data: { id: provider, organization, name: 'Grace Hopper' } });
    await prisma.appointment.create({
      data: {
        id: appointment,
        organization,
        patient,
        provider,
        facility,
        date: new Date('2030-03-04T15:00:00Z'),
        duration: 30,
        status: 'booked',
        timeZone: 'America/New_York',
      },
    });
    await prisma.organizationProfile.createMany({
      data: [
        { organization, name: 'Harbour Health', changedAt },
        { organization: other, name: 'Elsewhere Care', changedAt },
      ],
    });
    await prisma.bookingLink.createMany({
      data: [
        { organization, ref: organization, url: 'https://book.example/harbour', changedAt },
        { organization, ref: facility, url: 'https://book.example/main-street', changedAt },
        { organization: other, ref: other, url: 'https://book.example/elsewhere', changedAt },
      ],
    });
  });

  afterAll(async () => {
    await prisma?.$disconnect();
    await database?.close();
    await created?.drop();
  });

  beforeEach(() => {
    queries.length = 0;
  });

  it('a wording saying neither reads neither table, and renders as before', async () => {
    const text = 'Hi {{patient.firstname}}, see you at {{facility.name}} on {{appointment.date}}.';
    const context = await contextFor(prisma, organization, { patient, appointment }, [text, 'Appointment reminder']);

    expect(read('organization_profile')).toBe(false);
    expect(read('booking_link')).toBe(false);
    expect(read('patient_contact')).toBe(true);
    expect(render(text, variablesOf(context, 'en'))).toBe('Hi Ada, see you at Main Street Clinic on Monday, March 4, 2030.');
  });

  it("a wording naming the organization reads its profile only, and a booking link the facility's own page", async () => {
    const named = await contextFor(prisma, organization, { patient, appointment }, ['From {{ organization.name }}']);
    expect(read('organization_profile')).toBe(true);
    expect(read('booking_link')).toBe(false);
    expect(render('From {{ organization.name }}', variablesOf(named, 'en'))).toBe('From Harbour Health');

    queries.length = 0;
    const subject = 'Book again: {{booking.link}}';
    const linked = await contextFor(prisma, organization, { patient, appointment }, ['Hi {{patient.firstname}}', subject]);
    expect(read('booking_link')).toBe(true);
    expect(read('organization_profile')).toBe(false);
    expect(render(subject, variablesOf(linked, 'en'))).toBe('Book again: https://book.example/main-street');
  });

  it("loads a batch's organizations at once; without a facility of its own the organization's page answers", async () => {
    const extras = await loadTextExtras(prisma, [organization, other], ['{{organization.name}} {{booking.link}}']);

    expect(queries.filter((query) => query.includes('"organization_profile"'))).toHaveLength(1);
    expect(queries.filter((query) => query.includes('"booking_link"'))).toHaveLength(1);
    expect(extras.organization(other)).toEqual({ name: 'Elsewhere Care' });
    expect(extras.bookingLink(organization, facility)).toBe('https://book.example/main-street');
    expect(extras.bookingLink(organization, randomUUID())).toBe('https://book.example/harbour');
    expect(extras.bookingLink(other, null)).toBe('https://book.example/elsewhere');
    expect(extras.organization(randomUUID())).toBeNull();
  });
});
