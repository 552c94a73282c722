import { randomUUID } from 'node:crypto';
import { createEvent, facilityCreatedV1, facilityDeletedV1, facilityUpdatedV1 } from '@pep/contracts';
import { kafkaBrokers, waitFor } from '@pep/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, publishSoon, signup, startAuth, type AuthUnderTest, type SignupResult } from '../test/harness.js';

describe("auth service: the read model of scheduling's providers, facilities and appointment types", () => {
  let service: AuthUnderTest;
  let sql: pg.Client;
  let a: SignupResult;
  let b: SignupResult;

  beforeAll(async () => {
    service = await startAuth('scheduling-records', await kafkaBrokers());
    sql = new pg.Client({ connectionString: service.databaseUrl });
    await sql.connect();
    a = await signup(service.app);
    b = await signup(service.app);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
  });

  const facility = (id: string) => ({
    _id: id,
    name: 'Main Street Clinic',
    alternativeName: null,
    phonetic: null,
    address: null,
    city: null,
    state: null,
    postcode: null,
    country: null,
    phone: null,
    timeZone: 'America/New_York',
    visible: true,
  });
  /** Publishes scheduling's facility events (one topic) in this order, each keyed by the facility as scheduling keys them. */
  const announce = (...events: Array<ReturnType<typeof createEvent>>) =>
    publishSoon(
      service,
      events.map((event) => ({ topic: facilityCreatedV1.topic, key: event.subject, value: JSON.stringify(event) })),
    );
  const context = (organization: string, id: string) => ({ source: '/services/scheduling', organization, subject: id });
  const handled = (count: number) =>
    waitFor(
      async () => (await sql.query("SELECT count(*)::int AS n FROM inbox WHERE consumer = 'auth.scheduling-records'")).rows[0].n >= count,
      {
        timeoutMs: 30_000,
        message: 'events handled',
      },
    );
  const settingOf = async (caller: SignupResult, id: string) =>
    (
      await service.app.inject({
        method: 'POST',
        url: '/api/settings',
        headers: await bearer(caller.token),
        payload: { ref: 'facility', refId: id },
      })
    ).statusCode;

  it('keeps a deletion whatever arrives after it, and never moves a record to another organization', async () => {
    const deletedFirst = randomUUID();
    const claimed = randomUUID();
    const { rows } = await sql.query("SELECT count(*)::int AS n FROM inbox WHERE consumer = 'auth.scheduling-records'");
    await announce(
      // A deletion redelivered ahead of an update: the record stays deleted.
      createEvent(facilityCreatedV1, { ...context(a.organization._id, deletedFirst), data: facility(deletedFirst) }),
      createEvent(facilityDeletedV1, { ...context(a.organization._id, deletedFirst), data: { _id: deletedFirst } }),
      createEvent(facilityUpdatedV1, {
        ...context(a.organization._id, deletedFirst),
        data: { ...facility(deletedFirst), changed: ['name'] },
      }),
      // An event naming B for A's facility changes nothing.
      createEvent(facilityCreatedV1, { ...context(a.organization._id, claimed), data: facility(claimed) }),
      createEvent(facilityUpdatedV1, { ...context(b.organization._id, claimed), data: { ...facility(claimed), changed: ['name'] } }),
    );
    await handled(rows[0].n + 5);
    const stored = await sql.query('SELECT id, kind, organization, deleted FROM scheduling_record WHERE id = ANY($1::uuid[]) ORDER BY id', [
      [deletedFirst, claimed],
    ]);
    expect(stored.rows).toEqual(
      expect.arrayContaining([
        { id: deletedFirst, kind: 'facility', organization: a.organization._id, deleted: true },
        { id: claimed, kind: 'facility', organization: a.organization._id, deleted: false },
      ]),
    );
    // Known to the read model, so no call to scheduling (which this suite does not run) is needed for any answer.
    expect(await settingOf(a, deletedFirst)).toBe(404);
    expect(await settingOf(b, claimed)).toBe(404);
    expect(await settingOf(a, claimed)).toBe(200);
  });
});
