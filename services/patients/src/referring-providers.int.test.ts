import { Writable } from 'node:stream';
import { startServiceUnderTest } from '@pep/db/testing';
import { createLogger } from '@pep/service-kit';
import { kafkaBrokers, nppesRecord, startNppesFake, startSmtpSink, waitFor, type NppesFake, type SmtpSink } from '@pep/testing';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, connect, createPatient } from '../test/fixtures.js';
import { orgA, orgB, type PatientsUnderTest } from '../test/harness.js';
import { buildApp } from './app.js';
import { migrationsDir } from './migrations.js';

const provider = (name: string, extra: Record<string, unknown> = {}) => ({ firstname: name, lastname: 'Referrer', ...extra });

describe('referring providers, the NPI registry and sharing referral statuses', () => {
  let service: PatientsUnderTest;
  let registry: NppesFake;
  let smtp: SmtpSink;
  let sql: pg.Client;
  const logLines: string[] = [];

  beforeAll(async () => {
    registry = await startNppesFake();
    smtp = await startSmtpSink();
    service = await startServiceUnderTest({
      service: 'patients',
      label: 'referring-providers',
      brokers: await kafkaBrokers(),
      migrationsDir,
      logger: createLogger({
        service: 'patients',
        level: 'debug',
        destination: new Writable({
          write(chunk, _encoding, done) {
            logLines.push(String(chunk));
            done();
          },
        }),
      }),
      build: (deps) =>
        buildApp({
          ...deps,
          nppes: { url: registry.url, timeoutMs: 500 },
          mailer: { from: 'referrals@clinic.example', smtpUrl: smtp.url },
        }),
    });
    sql = await connect(service);
  });
  afterAll(async () => {
    await sql?.end();
    await service?.close();
    await registry?.close();
    await smtp?.close();
  });
  beforeEach(() => {
    registry.fault = 'none';
  });

  it('adds a provider, checking the NPI and refusing a second provider with it', async () => {
    const created = await call(service.app, orgA, 'POST', '/api/providers/referring', {
      ...provider('Ada', { npi: '1689872012', email: 'Ada@Referrers.example', phone: '(415) 555-0100' }),
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      name: 'Ada Referrer',
      normalizedName: 'ada referrer',
      npi: 1689872012,
      email: 'ada@referrers.example',
      phone: '+14155550100',
      isReferringProvider: true,
      active: 1,
      displayStatus: 'active',
      source: 'ui',
    });

    const badCheckDigit = await call(service.app, orgA, 'POST', '/api/providers/referring', provider('Bad', { npi: '1689872013' }));
    expect(badCheckDigit.status).toBe(400);
    expect(badCheckDigit.body.errors[0].field).toBe('body.npi');
    const short = await call(service.app, orgA, 'POST', '/api/providers/referring', provider('Short', { npi: 12345 }));
    expect(short.body.errors[0].field).toBe('body.npi');
    const nameless = await call(service.app, orgA, 'POST', '/api/providers/referring', { npi: '1234567893' });
    expect(nameless.status).toBe(400);
    expect(nameless.body.errors[0].field).toBe('body.name');

    const duplicate = await call(service.app, orgA, 'POST', '/api/providers/referring', provider('Other', { npi: 1689872012 }));
    expect(duplicate.status).toBe(409);
    expect(duplicate.body).toMatchObject({ type: '/problems/referring-provider-exists', existing: created.body._id });
    // Another organization may know the same provider.
    expect((await call(service.app, orgB, 'POST', '/api/providers/referring', provider('Ada', { npi: '1689872012' }))).status).toBe(200);
  });

  it('lists by folded name, NPI and active, and activates and deactivates idempotently', async () => {
    const zoe = (await call(service.app, orgA, 'POST', '/api/providers/referring', { name: 'Zoë O’Brien-Smith', npi: '1234567893' })).body;
    const byName = await call(service.app, orgA, 'GET', '/api/providers/referring?name=zoe%20obrien');
    expect(byName.status).toBe(200);
    expect(byName.body.response.map((found: { _id: string }) => found._id)).toEqual([]);
    const byWords = await call(service.app, orgA, 'GET', '/api/providers/referring?name=ZOE%20brien');
    expect(byWords.body).toMatchObject({ total: 1, page: 1, response: [{ _id: zoe._id }] });
    expect((await call(service.app, orgA, 'GET', '/api/providers/referring?npi=1234567893')).body.response).toHaveLength(1);

    for (let round = 0; round < 2; round += 1) {
      const off = await call(service.app, orgA, 'PUT', `/api/providers/referring/${zoe._id}/deactivate`);
      expect(off.status).toBe(200);
      expect(off.body).toMatchObject({ active: 0, displayStatus: 'suspended' });
    }
    const inactive = (await call(service.app, orgA, 'GET', '/api/providers/referring?active=0')).body.response;
    expect(inactive.map((found: { _id: string }) => found._id)).toEqual([zoe._id]);
    expect((await call(service.app, orgA, 'GET', '/api/providers/referring?active=1')).body.response).not.toContainEqual(
      expect.objectContaining({ _id: zoe._id }),
    );
    for (let round = 0; round < 2; round += 1) {
      expect((await call(service.app, orgA, 'PUT', `/api/providers/referring/${zoe._id}/activate`)).body).toMatchObject({ active: 1 });
    }

    const renamed = await call(service.app, orgA, 'PUT', `/api/providers/referring/${zoe._id}`, {
      firstname: 'Zoe',
      lastname: 'Smith',
      name: null,
    });
    expect(renamed.body).toMatchObject({ name: 'Zoe Smith', normalizedName: 'zoe smith' });
    const taken = await call(service.app, orgA, 'PUT', `/api/providers/referring/${zoe._id}`, { npi: '1689872012' });
    expect(taken.status).toBe(409);
  });

  it("lists a provider's referrals and mails their statuses to the provider", async () => {
    const doctor = (
      await call(service.app, orgA, 'POST', '/api/providers/referring', { name: 'Dr Mail', email: 'dr.mail@referrers.example' })
    ).body;
    const grace = await createPatient(service.app, orgA, { firstname: 'Grace', lastname: 'Hopper', phone: '415-555-0111' });
    const alan = await createPatient(service.app, orgA, { firstname: 'Alan', lastname: 'Turing', phone: '415-555-0112' });
    const referred = [];
    for (const patient of [grace, alan]) {
      const response = await call(service.app, orgA, 'POST', '/api/referrals', {
        patient: patient._id,
        referringProviderId: doctor._id,
        name: 'Cardiology consult',
      });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      referred.push(response.body._id as string);
    }
    const listed = await call(service.app, orgA, 'GET', `/api/providers/referring/${doctor._id}/referrals`);
    expect(listed.status).toBe(200);
    expect(listed.body.total).toBe(2);
    expect(listed.body.response.map((referral: { _id: string }) => referral._id).sort()).toEqual([...referred].sort());
    expect(listed.body.response[0]).toMatchObject({ referringProviderId: doctor._id, referringProvider: 'Dr Mail' });
    expect((await call(service.app, orgA, 'GET', `/api/providers/referring/${doctor._id}/referrals?status=closed`)).body.total).toBe(0);

    const before = smtp.inbox.length;
    const shared = await call(service.app, orgA, 'POST', `/api/providers/referring/${doctor._id}/share`, { channel: 'email' });
    expect(shared.status, JSON.stringify(shared.body)).toBe(200);
    expect(shared.body).toMatchObject({ channel: 'email', to: 'dr.mail@referrers.example' });
    expect([...shared.body.referrals].sort()).toEqual([...referred].sort());
    const { rows: recorded } = await sql.query('SELECT * FROM referral_share WHERE id = $1', [shared.body._id]);
    expect(recorded).toEqual([
      expect.objectContaining({
        organization: orgA.organization,
        referring_provider: doctor._id,
        channel: 'email',
        recipient: 'dr.mail@referrers.example',
        shared_by: orgA.user,
      }),
    ]);
    expect([...recorded[0].referrals].sort()).toEqual([...referred].sort());
    await waitFor(async () => smtp.inbox.length > before, { timeoutMs: 10_000, message: 'share mail received' });
    const mail = smtp.inbox[before]!;
    expect(mail.to && 'text' in mail.to ? mail.to.text : '').toContain('dr.mail@referrers.example');
    expect(mail.text).toContain('Dear Dr Mail');
    expect(mail.text).toContain('Grace Hopper');
    expect(mail.text).toContain('Alan Turing');
    expect(mail.text).toMatch(/Cardiology consult\): (received, under review|we are contacting the patient to book)/);

    // One named referral, to an address given for this share.
    const one = await call(service.app, orgA, 'POST', `/api/providers/referring/${doctor._id}/share`, {
      channel: 'email',
      referrals: [referred[0]],
      email: 'office@referrers.example',
    });
    expect(one.body).toMatchObject({ to: 'office@referrers.example', referrals: [referred[0]] });
    await waitFor(async () => smtp.inbox.length > before + 1, { timeoutMs: 10_000, message: 'second share mail received' });
    expect(smtp.inbox[before + 1]!.text).toContain('Grace Hopper');
    expect(smtp.inbox[before + 1]!.text).not.toContain('Alan Turing');
    // What was shared is PHI: the logs name the provider and how many referrals, never the patients.
    const logs = logLines.join('');
    expect(logs).toContain('referral statuses shared');
    expect(logs).not.toMatch(/Grace|Hopper|Turing/);
  });

  it('answers 503 for an e-mail share without a mail transport, or when the mail server is down, recording nothing', async () => {
    const doctor = (await call(service.app, orgA, 'GET', '/api/providers/referring?name=mail')).body.response[0];
    const shares = async () => (await sql.query('SELECT id FROM referral_share WHERE referring_provider = $1', [doctor._id])).rows;
    const before = await shares();
    for (const [label, mailer, problem] of [
      ['unmailed', null, '/problems/mail-not-configured'],
      // Nothing listens on port 9 of loopback: the connection is refused.
      ['mail-down', { from: 'referrals@clinic.example', smtpUrl: 'smtp://127.0.0.1:9' }, '/problems/mail-unavailable'],
    ] as const) {
      const other = await startServiceUnderTest({
        service: 'patients',
        label: `referring-providers-${label}`,
        brokers: await kafkaBrokers(),
        migrationsDir,
        databaseUrl: service.databaseUrl,
        build: (deps) => buildApp({ ...deps, nppes: { url: registry.url, timeoutMs: 500 }, mailer }),
      });
      try {
        const refused = await call(other.app, orgA, 'POST', `/api/providers/referring/${doctor._id}/share`, { channel: 'email' });
        expect(refused.status, label).toBe(503);
        expect(refused.body.type, label).toBe(problem);
      } finally {
        await other.close();
      }
    }
    expect(await shares()).toEqual(before);
  });

  it('refuses shares it cannot make, sending nothing and recording nothing', async () => {
    const silent = (await call(service.app, orgA, 'POST', '/api/providers/referring', { name: 'No Email' })).body;
    const other = (await call(service.app, orgA, 'POST', '/api/providers/referring', { name: 'Other Doctor', email: 'o@x.example' })).body;
    const patient = await createPatient(service.app, orgA, { firstname: 'Ken', lastname: 'Thompson' });
    const ofOther = await call(service.app, orgA, 'POST', '/api/referrals', { patient: patient._id, referringProviderId: other._id });
    expect(ofOther.status).toBe(200);
    const before = smtp.inbox.length;
    const rows = async () => ({
      referrals: (await sql.query('SELECT id, fax_sent_at, updated_at FROM referral ORDER BY id')).rows,
      shares: (await sql.query('SELECT id FROM referral_share ORDER BY id')).rows,
    });
    const referralsBefore = await rows();

    const noAddress = await call(service.app, orgA, 'POST', `/api/providers/referring/${silent._id}/share`, { channel: 'email' });
    expect(noAddress.status).toBe(400);
    expect(noAddress.body.errors[0].field).toBe('body.email');
    const nothing = await call(service.app, orgA, 'POST', `/api/providers/referring/${silent._id}/share`, {
      channel: 'email',
      email: 'x@y.example',
    });
    expect(nothing.status).toBe(409);
    expect(nothing.body.type).toBe('/problems/nothing-to-share');
    const notTheirs = await call(service.app, orgA, 'POST', `/api/providers/referring/${silent._id}/share`, {
      channel: 'email',
      email: 'x@y.example',
      referrals: [ofOther.body._id],
    });
    expect(notTheirs.status).toBe(400);
    expect(notTheirs.body.errors[0].field).toBe('body.referrals');
    const fax = await call(service.app, orgA, 'POST', `/api/providers/referring/${other._id}/share`, {
      channel: 'fax',
      fax: '415-555-0199',
    });
    expect(fax.status).toBe(409);
    expect(fax.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(fax.body.type).toBe('/problems/fax-not-configured');
    const badChannel = await call(service.app, orgA, 'POST', `/api/providers/referring/${other._id}/share`, { channel: 'pigeon' });
    expect(badChannel.status).toBe(400);
    expect(badChannel.body.errors[0].field).toBe('body.channel');

    expect(await rows()).toEqual(referralsBefore);
    // Give a stray mail time to arrive before saying none did.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(smtp.inbox.length).toBe(before);
  });

  it('searches the NPI registry, naming the providers the organization already has', async () => {
    registry.records.push(
      nppesRecord({ number: '1689872012', first_name: 'ADA', last_name: 'REFERRER', taxonomy: 'Cardiovascular Disease' }),
      nppesRecord({ number: '1003000126', first_name: 'ADAM', last_name: 'REFERRAL' }),
    );
    const known = (await call(service.app, orgA, 'GET', '/api/providers/referring?npi=1689872012')).body.response[0]._id;
    const found = await call(service.app, orgA, 'GET', '/api/providers/npi/search?last_name=refer*&state=il&limit=5');
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body).toMatchObject({ count: 2, limit: 5, skip: 0 });
    expect(found.body.response).toEqual([
      expect.objectContaining({
        npi: 1689872012,
        name: 'ADA REFERRER',
        taxonomy: 'Cardiovascular Disease',
        postcode: '62701-1234',
        phone: '+12175550142',
        isReferringProvider: true,
        referringProvider: known,
      }),
      expect.objectContaining({ npi: 1003000126, referringProvider: null }),
    ]);
    const sent = registry.requests.at(-1)!;
    expect(Object.fromEntries(sent)).toMatchObject({ version: '2.1', last_name: 'refer*', state: 'IL', limit: '5', skip: '0' });

    // B has the same NPI as A: B's id, never A's.
    const asB = await call(service.app, orgB, 'GET', '/api/providers/npi/search?number=1689872012');
    expect(asB.body.response[0].referringProvider).not.toBe(known);
  });

  it('refuses bad searches with 400 naming the field, and answers 503 with Retry-After when the registry fails', async () => {
    const tooMany = await call(service.app, orgA, 'GET', '/api/providers/npi/search?last_name=doe&limit=201');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].field).toBe('querystring.limit');
    const badState = await call(service.app, orgA, 'GET', '/api/providers/npi/search?last_name=doe&state=Illinois');
    expect(badState.body.errors[0].field).toBe('querystring.state');
    const stateAlone = await call(service.app, orgA, 'GET', '/api/providers/npi/search?state=IL');
    expect(stateAlone.status).toBe(400);
    expect(stateAlone.body.errors).toEqual([{ field: 'querystring.state', message: 'Field state requires additional search criteria' }]);

    for (const fault of ['slow', 'error', 'unreachable'] as const) {
      registry.fault = fault;
      const started = Date.now();
      const failed = await call(service.app, orgA, 'GET', '/api/providers/npi/search?last_name=doe');
      expect(failed.status, fault).toBe(503);
      expect(failed.headers['content-type'], fault).toMatch(/^application\/problem\+json/);
      expect(Number(failed.headers['retry-after']), fault).toBeGreaterThan(0);
      expect(failed.body.type, fault).toBe('/problems/npi-registry-unavailable');
      expect(Date.now() - started, fault).toBeLessThan(3_000);
    }
  });
});
