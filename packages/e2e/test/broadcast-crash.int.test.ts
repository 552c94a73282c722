import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus } from '@pep/bus';
import {
  appointmentCreatedV1,
  createEvent,
  facilityCreatedV1,
  patientCreatedV1,
  settingsChangedV1,
  type EventDefinition,
} from '@pep/contracts';
import { signIdentity } from '@pep/service-kit';
import {
  createTestDatabase,
  kafkaBrokers,
  sleep,
  startTwilioFake,
  uniqueTopicPrefix,
  waitFor,
  type FakeSend,
  type TestDatabase,
  type TwilioFake,
} from '@pep/testing';
import { DateTime } from 'luxon';
import pg from 'pg';
import twilio from 'twilio';
import type { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, stopAll, type ServiceProcess } from './processes.js';

// Issue 14's proof: a 2,000-recipient broadcast sent by messaging running as its own process, killed with SIGKILL while
// the Twilio stand-in holds a batch of its texts, then started again with the same command. The stand-in's count is
// the ground truth: every reachable patient texted once, the opted-out never, those in quiet hours only once their
// morning comes, never more than the organization's hourly rate, and the broadcast's stats agreeing with it.
const SECRET = 'e2e-internal-secret-0123456789abcdefgh';
const PUBLIC_URL = 'http://localhost:3000';
const RATE_PER_HOUR = 1_000;
const REACHABLE = 1_800;
const DO_NOT_CONTACT = 60;
const STOPPED = 40;
const IN_QUIET_HOURS = 100;
const TOTAL = REACHABLE + DO_NOT_CONTACT + STOPPED + IN_QUIET_HOURS;
const MESSAGE = 'Hi {{patient.firstname}}, the flu clinic opens on Saturday.';
const TEXT = 'Hi Rosa, the flu clinic opens on Saturday.';
// Each text takes this long at the stand-in, so a 250-text batch is in its hands for that long: the kill lands inside it.
const VENDOR_LATENCY_MS = 1_500;
const KILL_INTO_BATCH_MS = 800;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The Etc zone whose clock reads `localHour` now (Etc/GMT-9 is nine hours ahead of UTC). */
function zoneAt(localHour: number, now: Date): string {
  let offset = localHour - now.getUTCHours();
  if (offset < -12) offset += 24;
  if (offset > 14) offset -= 24;
  return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

describe('distributed platform: a broadcast across a kill -9 of messaging', () => {
  let database: TestDatabase;
  let fake: TwilioFake;
  let bus: KafkaBus;
  let sql: pg.Client;
  let messaging: ServiceProcess;
  let mailDir: string;

  beforeAll(async () => {
    const brokers = await kafkaBrokers();
    const topicPrefix = uniqueTopicPrefix('e2e-broadcast');
    fake = await startTwilioFake();
    fake.latencyMs = VENDOR_LATENCY_MS;
    database = await createTestDatabase('e2e-broadcast-crash');
    mailDir = await mkdtemp(join(tmpdir(), 'pep-e2e-broadcast-mail-'));
    bus = new KafkaBus({ brokers, clientId: 'e2e-broadcast-publisher', topicPrefix });
    messaging = await startService('messaging', {
      NODE_ENV: 'test',
      CLOCK_CONTROL: 'true',
      KAFKA_BROKERS: brokers.join(','),
      TOPIC_PREFIX: topicPrefix,
      INTERNAL_AUTH_SECRET: SECRET,
      DATABASE_URL: database.url,
      PUBLIC_URL,
      MAIL_DIR: mailDir,
      TWILIO_ACCOUNT_SID: fake.accountSid,
      TWILIO_AUTH_TOKEN: fake.authToken,
      TWILIO_FROM: fake.from,
      TWILIO_API_URL: fake.url,
      // The send quota is a safety net above the broadcast's own rate, which is what this test measures.
      SEND_QUOTA_ORGANIZATION_PER_MINUTE: '100000',
      SEND_QUOTA_ORGANIZATION_PER_DAY: '1000000',
      // Nothing here asks the owners about unknown ids.
      PATIENTS_URL: 'http://127.0.0.1:1',
      SCHEDULING_URL: 'http://127.0.0.1:1',
    });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  }, 180_000);

  afterAll(async () => {
    await sql?.end();
    await messaging?.stop();
    await stopAll();
    await bus?.close();
    await fake?.close();
    await database?.drop();
    if (mailDir) await rm(mailDir, { recursive: true, force: true });
  });

  const publish = async <TSchema extends z.ZodType>(
    definition: EventDefinition<string, TSchema>,
    organization: string,
    records: Array<{ subject: string; data: z.input<TSchema> }>,
    source: string,
  ) => {
    for (let start = 0; start < records.length; start += 500)
      await bus.publish(
        records.slice(start, start + 500).map(({ subject, data }) => ({
          topic: definition.topic,
          key: subject,
          value: JSON.stringify(createEvent(definition, { source, organization, subject, data })),
        })),
      );
  };
  const count = async (query: string, params: unknown[]) => ((await sql.query(query, params)).rows[0] as { n: number }).n;
  const setClock = async (at: Date) => {
    const response = await fetch(`${messaging.url}/internal/clock`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ now: at.toISOString() }),
    });
    expect(response.status).toBe(200);
  };
  /** Signed form posts as Twilio makes them to the public URL. */
  const fromTwilio = (url: string, params: Record<string, string>) =>
    fetch(`${messaging.url}${new URL(url).pathname}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, url, params),
      },
      body: new URLSearchParams(params).toString(),
    });

  it(
    'texts each reachable patient once at the hourly rate, the opted-out never and the quiet-hour ones at their morning, with stats matching the vendor',
    { timeout: 240_000 },
    async ({ annotate }) => {
      const organization = randomUUID();
      const staff = { organization, user: randomUUID(), roles: ['staff'] };
      const started = new Date();
      // Zones picked from the real time of day, which messaging's clock reads until moved: the organization's at noon,
      // the quiet-hour patients' clinic at five in the morning, so their texts wait for 08:00 there, two to three hours on.
      const openZone = zoneAt(12, started);
      const quietZone = zoneAt(5, started);
      const morning = DateTime.fromJSDate(started, { zone: quietZone }).set({ hour: 8, minute: 0, second: 0, millisecond: 0 }).toJSDate();

      let phoneSeq = 0;
      const person = (doNotContact = false) => ({
        _id: randomUUID(),
        firstname: 'Rosa',
        lastname: 'Diaz',
        phone: `+1555${String(8_000_000 + (phoneSeq += 1)).padStart(7, '0')}`,
        email: null,
        dateOfBirth: null,
        doNotContact,
        language: 'en',
      });
      const reachable = Array.from({ length: REACHABLE }, () => person());
      const blocked = Array.from({ length: DO_NOT_CONTACT }, () => person(true));
      const stopped = Array.from({ length: STOPPED }, () => person());
      const quiet = Array.from({ length: IN_QUIET_HOURS }, () => person());
      const everyone = [...reachable, ...blocked, ...stopped, ...quiet];

      // Messaging's read models, fed as the other services feed them: their events on the broker.
      const settingsId = randomUUID();
      await publish(
        settingsChangedV1,
        organization,
        [
          {
            subject: settingsId,
            data: {
              _id: settingsId,
              organization,
              ref: 'organization',
              refId: organization,
              settings: { broadcastRatePerHour: RATE_PER_HOUR, timeZone: openZone },
              unsubscribed: [],
              unsubscribedAll: false,
              deleted: false,
            },
          },
        ],
        '/services/auth',
      );
      const clinic = {
        _id: randomUUID(),
        name: 'Dawn Clinic',
        alternativeName: null,
        phonetic: null,
        address: null,
        city: null,
        state: null,
        postcode: null,
        country: null,
        phone: null,
        timeZone: quietZone,
        visible: true,
      };
      await publish(facilityCreatedV1, organization, [{ subject: clinic._id, data: clinic }], '/services/scheduling');
      await publish(
        patientCreatedV1,
        organization,
        everyone.map((data) => ({ subject: data._id, data })),
        '/services/patients',
      );
      const visit = new Date(started.getTime() + 30 * 24 * HOUR).toISOString();
      await publish(
        appointmentCreatedV1,
        organization,
        quiet.map((patient) => {
          const data = {
            _id: randomUUID(),
            patient: patient._id,
            provider: randomUUID(),
            facility: clinic._id,
            type: null,
            date: visit,
            duration: 30,
            status: 'unconfirmed' as const,
            source: 'ui' as const,
            timeZone: quietZone,
          };
          return { subject: data._id, data };
        }),
        '/services/scheduling',
      );
      await waitFor(
        async () =>
          (await count(`SELECT count(*)::int AS n FROM patient_contact WHERE organization = $1`, [organization])) === TOTAL &&
          (await count(`SELECT count(*)::int AS n FROM appointment WHERE organization = $1`, [organization])) === IN_QUIET_HOURS &&
          (await count(`SELECT count(*)::int AS n FROM organization_setting WHERE organization = $1 AND broadcast_rate_per_hour = $2`, [
            organization,
            RATE_PER_HOUR,
          ])) === 1,
        { timeoutMs: 90_000, intervalMs: 500, message: 'messaging consumed the patients, appointments and settings' },
      );
      const fedAfterS = Math.round((Date.now() - started.getTime()) / 1_000);
      // Some patients text STOP, through Twilio's signed webhook.
      for (const patient of stopped) {
        const answer = await fromTwilio(`${PUBLIC_URL}/api/callback/sms/reminders`, {
          MessageSid: `SM${randomBytes(16).toString('hex')}`,
          AccountSid: fake.accountSid,
          From: patient.phone,
          To: fake.from,
          Body: 'STOP',
          NumMedia: '0',
        });
        expect(answer.status).toBe(200);
      }

      // The gateway's signed identity lives a minute: signed afresh for each request.
      const as = async () => ({ 'content-type': 'application/json', 'x-internal-identity': await signIdentity(SECRET, staff) });
      const preview = await fetch(`${messaging.url}/api/broadcasts/patients?limit=1`, { headers: await as() });
      expect(((await preview.json()) as { total: number }).total).toBe(TOTAL);
      const created = await fetch(`${messaging.url}/api/broadcasts`, {
        method: 'POST',
        headers: await as(),
        body: JSON.stringify({ title: 'Flu clinic', type: 'scheduled', audience: {}, message: MESSAGE, sendAt: new Date().toISOString() }),
      });
      expect(created.status, await created.clone().text()).toBe(200);
      const broadcast = ((await created.json()) as { _id: string })._id;

      const texts = (among?: Array<{ phone: string }>): FakeSend[] => {
        const phones = among ? new Set(among.map((one) => one.phone)) : null;
        return fake.sent.filter(
          (send) => send.kind === 'message' && send.params['Body'] === TEXT && (!phones || phones.has(send.params['To']!)),
        );
      };
      const messages = async (status: string) =>
        count(`SELECT count(*)::int AS n FROM message WHERE broadcast = $1 AND status = $2::message_status`, [broadcast, status]);

      // The kill: once a first batch is recorded and the next one is written and handed over (its texts held at the stand-in).
      await waitFor(async () => (await messages('sent')) > 0 && (await messages('pending')) > 0, {
        timeoutMs: 60_000,
        intervalMs: 20,
        message: 'a second batch handed to the vendor',
      });
      await sleep(KILL_INTO_BATCH_MS);
      const textsBeforeKill = texts().length;
      await messaging.kill();
      const leftPending = await messages('pending');
      const leftClaimed = await count(`SELECT count(*)::int AS n FROM broadcast_recipient WHERE broadcast = $1 AND status = 'claimed'`, [
        broadcast,
      ]);
      await sleep(VENDOR_LATENCY_MS + 500);
      // The vendor had every text the dead process left pending: the kill struck mid-send, after the hand-over.
      expect(leftPending).toBeGreaterThan(0);
      expect(leftClaimed).toBe(leftPending);
      expect(texts().length).toBe(textsBeforeKill + leftPending);
      expect(textsBeforeKill).toBeGreaterThan(0);
      expect(texts().length).toBeLessThan(RATE_PER_HOUR);

      const killed = messaging;
      messaging = await messaging.restart({ until: 'ready' });
      // The restarted process sends the hour's rest; the dead one's claims hold until their lease (5 min) ends.
      await waitFor(() => texts().length >= RATE_PER_HOUR, { timeoutMs: 60_000, intervalMs: 200, message: 'the first hour’s texts' });
      await setClock(new Date(Date.now() + 6 * MINUTE));
      await waitFor(
        async () =>
          (await count(`SELECT count(*)::int AS n FROM broadcast_recipient WHERE broadcast = $1 AND status = 'claimed'`, [broadcast])) ===
          0,
        { timeoutMs: 30_000, intervalMs: 250, message: 'the dead process’s claims settled' },
      );
      // Taken again, they found the messages their dead sender handed over: nobody texted twice, the hour's rate kept.
      expect(texts()).toHaveLength(RATE_PER_HOUR);
      await setClock(new Date(Date.now() + 30 * MINUTE));
      await sleep(6_000);
      expect(texts()).toHaveLength(RATE_PER_HOUR);
      expect(texts(quiet)).toHaveLength(0);

      // The next hour: the rest of the reachable, and still nobody in quiet hours.
      const { last } = (await sql.query(`SELECT max(claimed_at) AS last FROM broadcast_recipient WHERE broadcast = $1`, [broadcast]))
        .rows[0] as { last: Date };
      const nextHour = new Date(new Date(last).getTime() + HOUR + 30_000);
      expect(nextHour.getTime()).toBeLessThan(morning.getTime());
      await setClock(nextHour);
      await waitFor(() => texts().length >= REACHABLE, { timeoutMs: 60_000, intervalMs: 200, message: 'the second hour’s texts' });
      await sleep(6_000);
      expect(texts()).toHaveLength(REACHABLE);
      expect(texts(quiet)).toHaveLength(0);
      const held = await sql.query(
        `SELECT DISTINCT status::text, status_reason, retry_at FROM broadcast_recipient WHERE broadcast = $1 AND status = 'queued'`,
        [broadcast],
      );
      expect(held.rows).toEqual([{ status: 'queued', status_reason: 'quiet-hours', retry_at: morning }]);

      // Their morning: they go.
      const movedToMorning = Date.now();
      await setClock(new Date(morning.getTime() + 1_000));
      await waitFor(() => texts().length >= REACHABLE + IN_QUIET_HOURS, {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: 'the quiet-hour patients texted at their morning',
      });
      expect(texts(quiet).every((send) => send.at >= movedToMorning)).toBe(true);

      // Twilio reports each text delivered, those whose answer the kill lost included.
      const sends = texts();
      for (let start = 0; start < sends.length; start += 25)
        await Promise.all(
          sends.slice(start, start + 25).map(async (send) => {
            const answer = await fromTwilio(send.params['StatusCallback']!, {
              MessageSid: send.sid,
              MessageStatus: 'delivered',
              AccountSid: fake.accountSid,
              From: fake.from,
              To: send.params['To']!,
            });
            expect(answer.status).toBe(204);
          }),
        );

      // Each reachable patient once, the opted-out never: by the vendor's count and by messaging's own records.
      const perPhone = new Map<string, number>();
      for (const send of texts()) perPhone.set(send.params['To']!, (perPhone.get(send.params['To']!) ?? 0) + 1);
      for (const patient of [...reachable, ...quiet]) expect(perPhone.get(patient.phone), patient._id).toBe(1);
      expect(texts([...blocked, ...stopped])).toHaveLength(0);
      expect(texts()).toHaveLength(REACHABLE + IN_QUIET_HOURS);
      expect(
        (await sql.query(`SELECT patient FROM message WHERE broadcast = $1 GROUP BY patient HAVING count(*) > 1`, [broadcast])).rows,
      ).toEqual([]);
      expect(await messages('delivered')).toBe(REACHABLE + IN_QUIET_HOURS);
      expect(
        (
          await sql.query(
            `SELECT status::text, status_reason, count(*)::int AS n FROM broadcast_recipient WHERE broadcast = $1 AND status <> 'sent' GROUP BY 1, 2`,
            [broadcast],
          )
        ).rows,
      ).toEqual([{ status: 'blocked', status_reason: 'do-not-contact', n: DO_NOT_CONTACT + STOPPED }]);

      const done = await waitFor(
        async () => {
          const answer = (await (await fetch(`${messaging.url}/api/broadcasts/${broadcast}`, { headers: await as() })).json()) as {
            processingStatus: string;
            rowCount: number;
            stats: Record<string, number>;
          };
          return answer.processingStatus === 'success' ? answer : null;
        },
        { timeoutMs: 30_000, intervalMs: 500, message: 'the broadcast done' },
      );
      expect(done.rowCount).toBe(TOTAL);
      expect(done.stats).toEqual({
        total: TOTAL,
        queued: 0,
        sent: REACHABLE + IN_QUIET_HOURS,
        delivered: REACHABLE + IN_QUIET_HOURS,
        failed: 0,
        skipped: DO_NOT_CONTACT + STOPPED,
        cancelled: 0,
        replied: 0,
        optedOut: 0,
      });
      const { stats } = done;
      expect(stats['sent']! + stats['skipped']! + stats['failed']! + stats['queued']! + stats['cancelled']!).toBe(stats['total']);
      expect(stats['sent']).toBe(texts().length);
      for (const run of [killed, messaging]) expect(run.output()).not.toContain('+1555800');
      await annotate(
        `${TOTAL} recipients; killed with ${textsBeforeKill} texted and ${leftPending} held at the vendor; ` +
          `${RATE_PER_HOUR} in the first hour, ${REACHABLE} after the second, ${texts().length} after the quiet-hour morning; ` +
          `read models fed in ${fedAfterS} s, all done in ${Math.round((Date.now() - started.getTime()) / 1_000)} s`,
      );
    },
  );
});
