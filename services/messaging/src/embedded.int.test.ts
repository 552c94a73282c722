import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { assertNoSchemaDrift } from '@pep/schema-drift';
import { createLogger, type ServiceApp } from '@pep/service-kit';
import { waitFor } from '@pep/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appointmentData,
  as,
  organization,
  PUBLIC_URL,
  publishSettings,
  scheduling,
  SECRET,
  testClock,
  UNREACHABLE,
  world,
} from '../test/harness.js';
import { buildMessaging } from './app.js';
import type { ReminderDispatcher } from './dispatcher.js';
import { migrationsDir } from './migrations.js';

// The embedded runtime runs the same code on PGlite and the in-process bus, with no Twilio account: SMS goes to the
// development sink, where it is stored and listed but never sent, and mail to .eml files.
describe('messaging service on PGlite and the in-process bus (embedded runtime)', () => {
  let database: Database;
  let bus: InProcessBus;
  let app: ServiceApp;
  let dispatcher: ReminderDispatcher;
  let mailDir: string;
  const clock = testClock('2026-03-01T15:00:00Z');

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: null });
    await migrate(database, { migrationsDir });
    bus = new InProcessBus();
    mailDir = await mkdtemp(join(tmpdir(), 'messaging-mail-'));
    ({ app, dispatcher } = await buildMessaging({
      logger: createLogger({ service: 'messaging', level: 'silent' }),
      database,
      bus,
      internalAuthSecret: SECRET,
      publicUrl: PUBLIC_URL,
      twilio: null,
      mailer: { from: 'clinic@example.test', directory: mailDir },
      clock,
      dispatcher: { intervalMs: null },
      // Every record here arrives by event first; an id the read models miss would answer 503.
      patientsUrl: UNREACHABLE,
      schedulingUrl: UNREACHABLE,
    }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await database?.close();
  });

  it('has no drift between its migrations and schema.prisma', async () => {
    await assertNoSchemaDrift({ schemaPath: fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url)), db: database });
  });

  it('plans reminders from appointment events and sends them to the development sink, visible through the API', async () => {
    const org = organization();
    const headers = await as(org.staff);
    await publishSettings(bus, org.id, { reminderOffsetsHours: [48, 24] });
    const records = await world(bus, org.id);
    const session = await database.sql.connect();
    await waitFor(
      async () =>
        (await session.query('SELECT 1 FROM patient_contact WHERE id = $1', [records.patient._id])).rows.length === 1 &&
        (await session.query('SELECT 1 FROM organization_setting WHERE organization = $1', [org.id])).rows.length === 1,
      {
        message: 'read models kept',
      },
    );
    // 10:00 in New York on 5 March.
    const appointment = appointmentData(records, '2026-03-05T15:00:00.000Z');
    await scheduling.book(bus, org.id, appointment);
    const planned = await waitFor(
      async () => {
        const list = (await app.inject({ url: `/api/reminders/findByApptId/${appointment._id}`, headers })).json();
        return list.total === 2 ? list.response : null;
      },
      { message: 'two reminders planned' },
    );
    expect(planned.map((reminder: { sendAt: string }) => reminder.sendAt)).toEqual([
      '2026-03-03T15:00:00.000Z',
      '2026-03-04T15:00:00.000Z',
    ]);

    clock.set('2026-03-03T15:00:30Z');
    expect(await dispatcher.runOnce()).toBe(1);
    const messages = (await app.inject({ url: `/api/messages?patient=${records.patient._id}`, headers })).json();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      type: 'outbound',
      channel: 'sms',
      status: 'sent',
      externalStatus: { sink: true },
      automated: true,
      appointment: appointment._id,
      key: 'reminder',
    });
    expect(messages[0].text).toContain('Reply YES to confirm or NO to cancel');
    expect(messages[0].text).toContain('Thursday, March 5, 2026');
    const reminders = (await app.inject({ url: `/api/reminders/findByApptId/${appointment._id}`, headers })).json().response;
    expect(reminders.map((reminder: { status: string }) => reminder.status)).toEqual(['sent', 'scheduled']);

    // Staff e-mail goes to .eml files when no SMTP server is configured.
    await app.inject({
      method: 'POST',
      url: '/api/messages',
      headers,
      payload: { patient: records.patient._id, channel: 'sms', text: 'See you soon' },
    });
    expect((await app.inject({ url: `/api/messages?patient=${records.patient._id}`, headers })).json()).toHaveLength(2);
    expect(await readdir(mailDir)).toEqual([]);
  });
});
